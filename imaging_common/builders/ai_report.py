"""The DR report: a Comprehensive 3D SR following TID 1500 Measurement Report.

PS3.16 TID 1500, as the IHE AI Results profile uses it, with one TID 1501
Measurement Group per eye::

    Imaging Measurement Report (DCM 126000)
     +- Language, Observation Context: the model as device observer (TID 1004)
     +- Procedure Reported: ocular fundus photography; DR screening
     +- Image Library (TID 1600): the photographs graded
     +- Imaging Measurements
     |   +- Measurement Group "Right eye" / "Left eye" (TID 1501)
     |       +- Tracking Identifier and UID, Finding: diabetic retinopathy,
     |       |  Finding Site: retina with its laterality
     |       +- Algorithm Identification (TID 4019): model name, version, maker
     |       +- Source of Measurement: the photograph
     |       +- Measurements (TID 300), unit "1": the probability of each ICDR
     |       |  grade and of referable DR
     |       +- Qualitative evaluations: DR severity, referable DR yes/no,
     |          image quality; for an ungradable eye "repeat fundus
     |          photography" and the reasons, as text
     +- Qualitative Evaluations: the research-use-only notice, as text

The document is complete but unverified and preliminary (PS3.3 C.17.2): an
ophthalmologist has yet to review it. The model is named again in the
Contributing Equipment Sequence (Processing Equipment) and the General
Equipment module, with its Device UID.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from datetime import datetime

import highdicom as hd
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes as sr_codes

from imaging_common.builders.ai_findings import (
    RESEARCH_ONLY_NOTICE,
    AlgorithmIdentity,
    EyeFinding,
    ResultKind,
    coded,
    contributing_equipment,
    local_coding_scheme,
    plain_dataset,
    report_instance_uid,
    result_series_uid,
)
from imaging_common.codes import (
    COMMENT,
    DIABETIC_RETINOPATHY,
    DIABETIC_RETINOPATHY_SCREENING,
    DR_SEVERITY,
    GOOD_IMAGE_QUALITY,
    ICDR_GRADE_PROBABILITIES,
    ICDR_GRADES,
    IMAGE_QUALITY,
    LEFT,
    NO,
    NO_UNITS,
    OCULAR_FUNDUS_PHOTOGRAPHY,
    QUALITATIVE_EVALUATIONS,
    REASON_FOR_REPEATING_ACQUISITION,
    RECOMMENDATION,
    REFERABLE_DR,
    REFERABLE_DR_PROBABILITY,
    REPEAT_FUNDUS_PHOTOGRAPHY,
    RETINA,
    RIGHT,
    UNUSABLE_IMAGE_QUALITY,
    YES,
)
from imaging_common.exceptions import DicomInputError
from imaging_common.uids import derived_uid

__all__ = ["build_dr_report"]

#: Series Description of the report series (LO, at most 64 characters).
REPORT_SERIES_DESCRIPTION = "AI DR grading report - research use only"

_EYE_NAMES = {"R": "Right eye", "L": "Left eye"}
_EYE_LATERALITY = {"R": RIGHT, "L": LEFT}

#: The Type 2 attributes of a Referenced Request Sequence item (PS3.3 C.17.2),
#: then the Type 3 ones worth keeping, copied from the photograph's Request
#: Attributes Sequence.
_REQUEST_TYPE_2 = ("AccessionNumber", "ReferencedStudySequence",
                   "PlacerOrderNumberImagingServiceRequest",
                   "FillerOrderNumberImagingServiceRequest", "RequestedProcedureID",
                   "RequestedProcedureDescription", "RequestedProcedureCodeSequence")
_REQUEST_TYPE_3 = ("IssuerOfAccessionNumberSequence", "ReasonForTheRequestedProcedure",
                   "ReasonForRequestedProcedureCodeSequence")


def build_dr_report(findings: Sequence[EyeFinding], algorithm: AlgorithmIdentity, *,
                    series_number: int = 900,
                    content_datetime: datetime | None = None) -> Dataset:
    """Build the DR report of one or both eyes of one study.

    Patient and study come from the first finding's photograph; the report
    goes into that study, in the report series of ``algorithm``.

    Args:
        findings: one finding per eye, all from photographs of one study.
        algorithm: the model version that graded them.
        series_number: Series Number of the report series.
        content_datetime: when the grading was done; now when not given.

    Raises:
        DicomInputError: no findings, two for one eye, or photographs of
            different studies or patients.
    """
    findings = _checked(findings)
    sources = [finding.identity() for finding in findings]
    uid = report_instance_uid(findings, algorithm)
    report = hd.sr.MeasurementReport(
        observation_context=_observation_context(algorithm),
        procedure_reported=[coded(OCULAR_FUNDUS_PHOTOGRAPHY),
                            coded(DIABETIC_RETINOPATHY_SCREENING)],
        imaging_measurements=[_eye_group(finding, algorithm, uid) for finding in findings],
        # TID 1600 describes each image by its size.
        referenced_images=[s for s in sources if "Rows" in s and "Columns" in s] or None,
    )
    report[0].ContentSequence.append(_research_notice())
    stamp = content_datetime or datetime.now()
    first = sources[0]
    document = hd.sr.Comprehensive3DSR(
        evidence=sources,
        content=report[0],
        series_instance_uid=result_series_uid(first.StudyInstanceUID, algorithm,
                                              ResultKind.REPORT),
        series_number=series_number,
        sop_instance_uid=uid,
        instance_number=1,
        manufacturer=algorithm.manufacturer,
        manufacturer_model_name=algorithm.name,
        software_versions=algorithm.version,
        series_description=REPORT_SERIES_DESCRIPTION,
        content_date=stamp.date(),
        content_time=stamp.time(),
        content_qualification=hd.ContentQualificationValues.RESEARCH,
        is_complete=True,
        is_final=False,
        is_verified=False,
        performed_procedure_codes=[coded(DIABETIC_RETINOPATHY_SCREENING)],
        requested_procedures=_referenced_requests(first) or None,
        contributing_equipment=[contributing_equipment(algorithm)],
    )
    document.PatientName = findings[0].source.get("PatientName", "")
    document.DeviceUID = algorithm.device_uid
    document.CodingSchemeIdentificationSequence = [local_coding_scheme()]
    return plain_dataset(document)


def _checked(findings: Sequence[EyeFinding]) -> list[EyeFinding]:
    """The findings in eye order (right first), checked to belong together."""
    findings = list(findings)
    if not findings:
        raise DicomInputError("a report needs the finding of at least one eye")
    if len({finding.laterality for finding in findings}) != len(findings):
        raise DicomInputError("a report has one finding per eye")
    if len({finding.study_instance_uid for finding in findings}) != 1:
        raise DicomInputError("the photographs of one report belong to one study")
    if len({str(finding.source.PatientID) for finding in findings}) != 1:
        raise DicomInputError("the photographs of one report belong to one patient")
    return sorted(findings, key=lambda finding: list(_EYE_NAMES).index(finding.laterality))


def _observation_context(algorithm: AlgorithmIdentity) -> hd.sr.ObservationContext:
    """TID 1001 with the model as the device observer (TID 1004)."""
    device = hd.sr.DeviceObserverIdentifyingAttributes(
        uid=algorithm.device_uid,
        name=algorithm.label,
        manufacturer_name=algorithm.manufacturer,
        model_name=algorithm.name,
    )
    return hd.sr.ObservationContext(observer_device_context=hd.sr.ObserverContext(
        observer_type=sr_codes.DCM.Device, observer_identifying_attributes=device))


def _eye_group(finding: EyeFinding, algorithm: AlgorithmIdentity,
               report_uid: str) -> hd.sr.MeasurementsAndQualitativeEvaluations:
    """TID 1501: the measurements and evaluations of one eye."""
    group = hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(
            uid=derived_uid(report_uid, "eye", finding.laterality),
            identifier=_EYE_NAMES[finding.laterality]),
        finding_type=coded(DIABETIC_RETINOPATHY),
        finding_sites=[hd.sr.FindingSite(coded(RETINA),
                                         laterality=coded(_EYE_LATERALITY[finding.laterality]))],
        algorithm_id=hd.sr.AlgorithmIdentification(
            name=algorithm.name, version=algorithm.version,
            manufacturer=algorithm.manufacturer),
        measurements=_measurements(finding),
        qualitative_evaluations=_evaluations(finding),
        source_images=[hd.sr.SourceImageForMeasurementGroup.from_source_image(finding.source)],
    )
    for reason in finding.quality_reasons:
        group[0].ContentSequence.append(hd.sr.TextContentItem(
            name=coded(REASON_FOR_REPEATING_ACQUISITION), value=reason,
            relationship_type=hd.sr.RelationshipTypeValues.CONTAINS))
    return group


def _measurements(finding: EyeFinding) -> list[hd.sr.Measurement]:
    """TID 300: the model's probabilities, unit "1" (CID 7181 "no units")."""
    values = list(zip(ICDR_GRADE_PROBABILITIES, finding.probabilities))
    if finding.referable_probability is not None:
        values.append((REFERABLE_DR_PROBABILITY, finding.referable_probability))
    return [hd.sr.Measurement(name=coded(name), value=round(value, 6), unit=coded(NO_UNITS))
            for name, value in values]


def _evaluations(finding: EyeFinding) -> list[hd.sr.QualitativeEvaluation]:
    evaluations = []
    if finding.grade is not None:
        evaluations.append(hd.sr.QualitativeEvaluation(
            coded(DR_SEVERITY), coded(ICDR_GRADES[finding.grade])))
    if finding.referable is not None:
        evaluations.append(hd.sr.QualitativeEvaluation(
            coded(REFERABLE_DR), coded(YES if finding.referable else NO)))
    quality = GOOD_IMAGE_QUALITY if finding.gradable else UNUSABLE_IMAGE_QUALITY
    evaluations.append(hd.sr.QualitativeEvaluation(coded(IMAGE_QUALITY), coded(quality)))
    if not finding.gradable:
        evaluations.append(hd.sr.QualitativeEvaluation(
            coded(RECOMMENDATION), coded(REPEAT_FUNDUS_PHOTOGRAPHY)))
    return evaluations


def _research_notice() -> hd.sr.ContainerContentItem:
    """TID 1500 "Qualitative Evaluations" holding the research-use-only comment."""
    container = hd.sr.ContainerContentItem(
        name=coded(QUALITATIVE_EVALUATIONS),
        relationship_type=hd.sr.RelationshipTypeValues.CONTAINS)
    container.ContentSequence = hd.sr.ContentSequence([hd.sr.TextContentItem(
        name=coded(COMMENT), value=RESEARCH_ONLY_NOTICE,
        relationship_type=hd.sr.RelationshipTypeValues.CONTAINS)])
    return container


def _referenced_requests(source: Dataset) -> list[Dataset]:
    """Referenced Request Sequence items: the orders the photographs were taken for.

    PS3.17 J.2.2: the request identifiers travel from the worklist into the
    images' Request Attributes Sequence; the report fulfils the same request.
    """
    items = []
    for request in source.get("RequestAttributesSequence", []):
        item = Dataset()
        item.StudyInstanceUID = request.get("StudyInstanceUID") or source.StudyInstanceUID
        for keyword in _REQUEST_TYPE_2:
            if keyword in request:
                item[keyword] = copy.deepcopy(request[keyword])
            else:
                setattr(item, keyword, [] if keyword.endswith("Sequence") else "")
        for keyword in _REQUEST_TYPE_3:
            if keyword in request:
                item[keyword] = copy.deepcopy(request[keyword])
        if not item.AccessionNumber:
            item.AccessionNumber = source.get("AccessionNumber", "")
        items.append(item)
    return items
