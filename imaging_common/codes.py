"""Coded concepts Fovea writes, each with the context group it is drawn from.

Codes are SNOMED CT (``SCT``) or DICOM (``DCM``) concepts as listed in PS3.16;
every code sequence item is built from a :class:`Code`, never typed inline.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydicom.dataset import Dataset
from pydicom.uid import UID

__all__ = [
    "ANATOMIC_REGION_EYE",
    "Code",
    "FUNDUS_CAMERA",
    "LOSSY_COMPRESSION",
    "REQUESTED_PROCEDURE_DR_SCREENING",
    "UNCOMPRESSED_PREDECESSOR",
    "UTC_SYNCHRONIZATION_FRAME",
]


@dataclass(frozen=True)
class Code:
    """A coded concept: value, coding scheme designator and code meaning."""

    value: str
    scheme: str
    meaning: str

    def to_item(self) -> Dataset:
        """Return a Code Sequence Macro item (PS3.3 Table 8.8-1)."""
        item = Dataset()
        item.CodeValue = self.value
        item.CodingSchemeDesignator = self.scheme
        item.CodeMeaning = self.meaning
        return item


#: CID 4209 Ophthalmic Anatomic Structure: the eye, the region a fundus photo shows.
ANATOMIC_REGION_EYE = Code("81745001", "SCT", "Eye")

#: CID 4202 Ophthalmic Image Acquisition Device.
FUNDUS_CAMERA = Code("409898007", "SCT", "Fundus Camera")

#: Requested Procedure Code and Scheduled Protocol Code of an AI DR screening
#: (PS3.3 C.4.11, C.4.10). No SNOMED CT or LOINC concept names this procedure,
#: so the code is local: PS3.3 8.2 reserves designators starting "99" for that.
REQUESTED_PROCEDURE_DR_SCREENING = Code("FOVEA-DRS", "99FOVEA",
                                        "AI diabetic retinopathy screening")

#: PS3.6 A.4: the Synchronization Frame of Reference of Coordinated Universal Time.
UTC_SYNCHRONIZATION_FRAME = UID("1.2.840.10008.15.1.1")

#: CID 7202 Source Image Purpose of Reference: the uncompressed image a lossy one
#: was made from (a simulated capture's rendering, before JPEG).
UNCOMPRESSED_PREDECESSOR = Code("121320", "DCM", "Uncompressed predecessor")

#: CID 7203 Image Derivation: how a simulated capture's stored picture was made.
LOSSY_COMPRESSION = Code("113040", "DCM", "Lossy Compression")

#: CID 7000 Diagnostic Imaging Report Document Titles: the Concept Name of the
#: printable screening report kept as Encapsulated PDF (PS3.3 C.24.2).
DIAGNOSTIC_IMAGING_REPORT = Code("18748-4", "LN", "Diagnostic Imaging Report")


# --- AI results: the DR report (TID 1500) and the heat map capture -------------
# Concepts the AI node's results carry. Standard concepts where PS3.16, SNOMED CT
# or LOINC name the thing; a local "99FOVEA" code (PS3.3 8.2) where none does.

#: TID 1500 Procedure Reported (CID 100 is extensible): the imaging procedure.
OCULAR_FUNDUS_PHOTOGRAPHY = Code("20067007", "SCT", "Ocular fundus photography")

#: TID 1500 Procedure Reported and Performed Procedure Code: the screening.
DIABETIC_RETINOPATHY_SCREENING = Code("134395001", "SCT", "Diabetic retinopathy screening")

#: TID 1501 Finding: the disorder every measurement group evaluates.
DIABETIC_RETINOPATHY = Code("4855003", "SCT", "Diabetic retinopathy")

#: TID 1501 Finding Site (CID 4209 Ophthalmic Anatomic Structure).
RETINA = Code("5665001", "SCT", "Retina")

#: CID 244 Laterality: the finding site's laterality modifier.
RIGHT = Code("24028007", "SCT", "Right")
LEFT = Code("7771000", "SCT", "Left")

#: CID 230 Yes-No.
YES = Code("373066001", "SCT", "Yes")
NO = Code("373067005", "SCT", "No")

#: The concept name of the ICDR severity level. LOINC's severity codes (71490-7,
#: 71491-5) are "by Ophthalmoscopy", which an algorithm reading photographs is
#: not, and no SNOMED CT or DCM concept names the scale, so the name is local.
DR_SEVERITY = Code("DR-SEVERITY", "99FOVEA", "Diabetic retinopathy severity (ICDR)")

#: The five levels of the International Clinical Diabetic Retinopathy severity
#: scale, indexed by grade 0-4. Grades 1-4 are the SNOMED CT disorders of the
#: eCQM value set "Level of Severity of Retinopathy Findings"
#: (2.16.840.1.113883.3.526.3.1283), which has no concept for the absence of
#: retinopathy; grade 0 is the LOINC answer "No apparent retinopathy" of the
#: ICDR answer list LL2117-1, whose other answers mean grades 1-4.
ICDR_GRADES: tuple[Code, ...] = (
    Code("LA18643-9", "LN", "No apparent retinopathy"),
    Code("312903003", "SCT", "Mild nonproliferative diabetic retinopathy"),
    Code("312904009", "SCT", "Moderate nonproliferative diabetic retinopathy"),
    Code("312905005", "SCT", "Severe nonproliferative diabetic retinopathy"),
    Code("59276001", "SCT", "Proliferative diabetic retinopathy"),
)

#: TID 300 Measurement names: the model's probability of each ICDR grade, by
#: grade. DCM 122157 "Probability" names no event, so these are local.
ICDR_GRADE_PROBABILITIES: tuple[Code, ...] = tuple(
    Code(f"DR-P{grade}", "99FOVEA", f"Probability of ICDR grade {grade}")
    for grade in range(5)
)

#: Referable diabetic retinopathy (moderate NPDR or worse, or referable macular
#: oedema where the model assesses it): the AI node's referral decision, the
#: probability it was made from, the model's registered threshold it was
#: compared with, and whether it lay within the borderline margin of it. Local:
#: no standard concept names a screening threshold.
REFERABLE_DR = Code("DR-REFERABLE", "99FOVEA", "Referable diabetic retinopathy")
REFERABLE_DR_PROBABILITY = Code("DR-REFERABLE-P", "99FOVEA",
                                "Probability of referable diabetic retinopathy")
REFERRAL_THRESHOLD = Code("DR-REFERRAL-THRESHOLD", "99FOVEA",
                          "Referral threshold of the referable probability")
REFERRAL_BORDERLINE = Code("DR-BORDERLINE", "99FOVEA", "Referral decision borderline")

#: Referable diabetic macular oedema: the model's finding and its probability
#: (graders from dr-grader 2.0 on). A grader without an oedema output says "not
#: assessed" (:data:`NOT_ASSESSED`), never "no".
REFERABLE_DME = Code("DME-REFERABLE", "99FOVEA", "Referable diabetic macular oedema")
REFERABLE_DME_PROBABILITY = Code("DME-REFERABLE-P", "99FOVEA",
                                 "Probability of referable diabetic macular oedema")
NOT_ASSESSED = Code("NOT-ASSESSED", "99FOVEA", "Not assessed")

#: Which of an eye's photographs its finding comes from (every photograph is
#: graded and reported; one decides the eye), and a doubt that a photograph
#: shows the eye its Image Laterality names (a TEXT value saying why).
DECIDES_EYE = Code("EYE-DECISIVE", "99FOVEA", "Photograph deciding the eye's finding")
LATERALITY_DOUBT = Code("LATERALITY-DOUBT", "99FOVEA", "Laterality doubt")

#: A photograph graded that is a simulated capture (:mod:`imaging_common.simulation`):
#: the concept name of a TEXT item saying so. Local: no standard concept names a
#: synthetic picture standing in for a photograph.
SIMULATED_IMAGE = Code("SIMULATED-IMAGE", "99FOVEA", "Simulated image")

#: Image quality of the photograph graded: the concept name (CID 6016) and its
#: values from CID 3114 Image Quality, "good" for gradable, "unusable" for not.
IMAGE_QUALITY = Code("111101", "DCM", "Image Quality")
GOOD_IMAGE_QUALITY = Code("122741", "DCM", "Good image quality")
UNUSABLE_IMAGE_QUALITY = Code("111235", "DCM", "Unusable - Quality renders image unusable")

#: Why a photograph was ungradable (DCM, no context group), one TEXT per reason.
REASON_FOR_REPEATING_ACQUISITION = Code("128552", "DCM", "Reason for Repeating Acquisition")

#: The recommendation for an ungradable eye. No standard concept names taking the
#: photograph again, so the value is local.
RECOMMENDATION = Code("121075", "DCM", "Recommendation")
REPEAT_FUNDUS_PHOTOGRAPHY = Code("FOVEA-REIMAGE", "99FOVEA", "Repeat fundus photography")

#: TID 1500 row "Qualitative Evaluations" (a UMLS concept in PS3.16) and the
#: TEXT comment it holds.
QUALITATIVE_EVALUATIONS = Code("C0034375", "UMLS", "Qualitative Evaluations")
COMMENT = Code("121106", "DCM", "Comment")

#: CID 7181: the unit of a probability.
NO_UNITS = Code("1", "UCUM", "no units")

#: CID 7005 Contributing Equipment Purpose of Reference: the model that produced
#: the results. CID 7005 has no "Processing Algorithm" concept; software that
#: derives an object from images is "Processing Equipment".
PROCESSING_EQUIPMENT = Code("109102", "DCM", "Processing Equipment")

#: CID 7202 Source Image Purpose of Reference: the photograph under a heat map.
SOURCE_IMAGE_FOR_PROCESSING = Code("121322", "DCM",
                                   "Source image for image processing operation")

# --- The ophthalmologist's verified report of an AI result (IHE AI Results) -------

#: Whether the ophthalmologist confirmed or corrected the AI's finding of an eye:
#: a local concept name (none standard names the assessment of an AI result)
#: with the DCM values of CID 3217 for agreeing or not with an earlier finding.
AI_FINDING_ASSESSMENT = Code("AI-ASSESSMENT", "99FOVEA", "Assessment of the AI finding")
AGREEMENT_WITH_AI_FINDING = Code("122775", "DCM", "Agreement with prior findings")
DISAGREEMENT_WITH_AI_FINDING = Code("122776", "DCM", "Disagreement with prior findings")

#: The AI report a verified report assesses, as a COMPOSITE item. Local: no
#: standard concept names the result under review.
ASSESSED_AI_REPORT = Code("AI-REPORT", "99FOVEA", "AI report assessed")

#: CID 7452 Organizational Roles: the verifying observer's role.
PHYSICIAN = Code("309343006", "SCT", "Physician")

__all__ += [
    "AGREEMENT_WITH_AI_FINDING",
    "AI_FINDING_ASSESSMENT",
    "ASSESSED_AI_REPORT",
    "COMMENT",
    "DECIDES_EYE",
    "DIABETIC_RETINOPATHY",
    "DIABETIC_RETINOPATHY_SCREENING",
    "DISAGREEMENT_WITH_AI_FINDING",
    "DR_SEVERITY",
    "GOOD_IMAGE_QUALITY",
    "ICDR_GRADES",
    "ICDR_GRADE_PROBABILITIES",
    "IMAGE_QUALITY",
    "LATERALITY_DOUBT",
    "LEFT",
    "NO",
    "NOT_ASSESSED",
    "NO_UNITS",
    "OCULAR_FUNDUS_PHOTOGRAPHY",
    "PHYSICIAN",
    "PROCESSING_EQUIPMENT",
    "QUALITATIVE_EVALUATIONS",
    "REASON_FOR_REPEATING_ACQUISITION",
    "RECOMMENDATION",
    "REFERABLE_DME",
    "REFERABLE_DME_PROBABILITY",
    "REFERABLE_DR",
    "REFERABLE_DR_PROBABILITY",
    "REFERRAL_BORDERLINE",
    "REFERRAL_THRESHOLD",
    "REPEAT_FUNDUS_PHOTOGRAPHY",
    "RETINA",
    "RIGHT",
    "SIMULATED_IMAGE",
    "SOURCE_IMAGE_FOR_PROCESSING",
    "UNUSABLE_IMAGE_QUALITY",
    "YES",
]
