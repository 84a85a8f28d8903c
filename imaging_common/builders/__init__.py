"""Builders of the DICOM objects Fovea writes.

Each builder takes typed, validated inputs and returns a complete pydicom
dataset with its file meta, ready to be sent or saved; every one is checked in
the tests by a strict read-back and by dciodvfy.

- :mod:`~imaging_common.builders.identity`: patient, request and equipment inputs.
- :mod:`~imaging_common.builders.ophthalmic`: Ophthalmic Photography 8 Bit Image.
- :mod:`~imaging_common.builders.encapsulated_pdf`: Encapsulated PDF, the printable report.
- :mod:`~imaging_common.builders.procedure_step`: the Modality Performed Procedure
  Step N-CREATE and N-SET attribute lists a modality sends.
- :mod:`~imaging_common.builders.ai_results`: the AI node's results, built in
  :mod:`~imaging_common.builders.ai_report` (DR report, Comprehensive 3D SR,
  TID 1500) and :mod:`~imaging_common.builders.heatmap_capture` (heat map
  Secondary Capture) from the inputs in
  :mod:`~imaging_common.builders.ai_findings`.
- :mod:`~imaging_common.builders.review_report`: the ophthalmologist's verified
  report of the AI's (Comprehensive 3D SR, TID 1500, Verification Flag VERIFIED).
"""

from imaging_common.builders.ai_results import (
    AlgorithmIdentity,
    EyeFinding,
    ResultKind,
    build_dr_report,
    build_heatmap_capture,
    capture_instance_uid,
    report_instance_uid,
    result_series_uid,
)
from imaging_common.builders.encapsulated_pdf import (
    EncapsulatedPdf,
    ReferencedInstance,
    build_encapsulated_pdf,
    encapsulated_document,
    report_pdf_series_uid,
)
from imaging_common.builders.identity import Equipment, Patient, Request
from imaging_common.builders.ophthalmic import (
    JpegFrame,
    Laterality,
    OphthalmicImage,
    build_ophthalmic_photograph,
    jpeg_frame_info,
)
from imaging_common.builders.procedure_step import (
    DiscontinuationReason,
    PerformedSeries,
    ScheduledStep,
    build_step_completed,
    build_step_discontinued,
    build_step_in_progress,
)
from imaging_common.builders.review_report import (
    EyeSignOff,
    Verifier,
    build_verified_report,
    evidence_references,
    verified_report_series_uid,
)

__all__ = [
    "AlgorithmIdentity",
    "DiscontinuationReason",
    "EncapsulatedPdf",
    "Equipment",
    "EyeFinding",
    "EyeSignOff",
    "JpegFrame",
    "Laterality",
    "OphthalmicImage",
    "Patient",
    "ReferencedInstance",
    "PerformedSeries",
    "Request",
    "ResultKind",
    "ScheduledStep",
    "Verifier",
    "build_dr_report",
    "build_encapsulated_pdf",
    "build_heatmap_capture",
    "build_ophthalmic_photograph",
    "build_step_completed",
    "build_step_discontinued",
    "build_step_in_progress",
    "build_verified_report",
    "capture_instance_uid",
    "encapsulated_document",
    "evidence_references",
    "jpeg_frame_info",
    "report_instance_uid",
    "report_pdf_series_uid",
    "result_series_uid",
    "verified_report_series_uid",
]
