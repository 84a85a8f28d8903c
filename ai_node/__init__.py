"""The AI node: a DICOM peer that grades diabetic retinopathy in RQ jobs and reports back."""
