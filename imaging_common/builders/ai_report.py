"""The DR report: a Comprehensive 3D SR following TID 1500 Measurement Report.

PS3.16 TID 1500, as the IHE AI Results profile uses it, with one TID 1501
Measurement Group per photograph graded (every photograph of an eye is
graded and reported; one decides the eye)::

    Imaging Measurement Report (DCM 126000)
     +- Language, Observation Context: the model as device observer (TID 1004)
     +- Procedure Reported: ocular fundus photography; DR screening
     +- Image Library (TID 1600): the photographs graded
     +- Imaging Measurements
     |   +- Measurement Group "Right eye" (the deciding photograph), then
     |   |  "Right eye, further photograph 1", ...; then the left eye's (TID 1501)
     |       +- Tracking Identifier and UID, Finding: diabetic retinopathy,
     |       |  Finding Site: retina with its laterality
     |       +- Algorithm Identification (TID 4019): model name, version, maker
     |       +- Source of Measurement: the photograph
     |       +- Measurements (TID 300), unit "1": the probability of each ICDR
     |       |  grade, the referable probability and the registered referral
     |       |  threshold it was compared with, P(referable DME) where assessed
     |       +- Qualitative evaluations: DR severity; referable yes/no and
     |       |  whether borderline (the node's decision, as made); referable DME
     |       |  yes/no, or "not assessed" by a model without an oedema output;
     |       |  image quality; whether this photograph decides the eye; for an
     |       |  ungradable photograph "repeat fundus photography"
     |       +- Text: "Simulated image" when the photograph is a simulated
     |          capture (synthetic, not a photograph of the patient), the
     |          reasons an ungradable photograph must be repeated, a doubt that
     |          the photograph shows the eye it is labelled with
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
    SIMULATED_IMAGE_NOTICE,
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
    DECIDES_EYE,
    DIABETIC_RETINOPATHY,
    DIABETIC_RETINOPATHY_SCREENING,
    DR_SEVERITY,
    GOOD_IMAGE_QUALITY,
    ICDR_GRADE_PROBABILITIES,
    ICDR_GRADES,
    IMAGE_QUALITY,
    LATERALITY_DOUBT,
    LEFT,
    NO,
    NO_UNITS,
    NOT_ASSESSED,
    OCULAR_FUNDUS_PHOTOGRAPHY,
    QUALITATIVE_EVALUATIONS,
    REASON_FOR_REPEATING_ACQUISITION,
    RECOMMENDATION,
    REFERABLE_DME,
    REFERABLE_DME_PROBABILITY,
    REFERABLE_DR,
    REFERABLE_DR_PROBABILITY,
    REFERRAL_BORDERLINE,
    REFERRAL_THRESHOLD,
    REPEAT_FUNDUS_PHOTOGRAPHY,
    RETINA,
    RIGHT,
    SIMULATED_IMAGE,
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
        findings: one finding per photograph graded, all from one study; each
            eye has exactly one ``decisive`` finding.
        algorithm: the model version that graded them.
        series_number: Series Number of the report series.
        content_datetime: when the grading was done; now when not given.

    Raises:
        DicomInputError: no findings, an eye without exactly one deciding
            photograph, a photograph twice, or photographs of different
            studies or patients.
    """
    findings = _checked(findings)
    sources = [finding.identity() for finding in findings]
    uid = report_instance_uid(findings, algorithm)
    report = hd.sr.MeasurementReport(
        observation_context=_observation_context(algorithm),
        procedure_reported=[coded(OCULAR_FUNDUS_PHOTOGRAPHY),
                            coded(DIABETIC_RETINOPATHY_SCREENING)],
        imaging_measurements=[_photograph_group(finding, name, algorithm, uid)
                              for finding, name in zip(findings, _tracking_names(findings))],
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
    """The findings in report order, checked to belong together.

    Right eye first; within an eye the deciding photograph first, then the
    others by SOP Instance UID, so the order is the same on every run.
    """
    findings = list(findings)
    if not findings:
        raise DicomInputError("a report needs the finding of at least one eye")
    if len({finding.sop_instance_uid for finding in findings}) != len(findings):
        raise DicomInputError("a report has one finding per photograph")
    for eye in {finding.laterality for finding in findings}:
        if sum(f.decisive for f in findings if f.laterality == eye) != 1:
            raise DicomInputError("one photograph of each eye decides its finding")
    if len({finding.study_instance_uid for finding in findings}) != 1:
        raise DicomInputError("the photographs of one report belong to one study")
    if len({str(finding.source.PatientID) for finding in findings}) != 1:
        raise DicomInputError("the photographs of one report belong to one patient")
    return sorted(findings, key=lambda finding: (list(_EYE_NAMES).index(finding.laterality),
                                                 not finding.decisive, finding.sop_instance_uid))


def _tracking_names(findings: Sequence[EyeFinding]) -> list[str]:
    """Tracking Identifiers: "Right eye" for the deciding photograph, then
    "Right eye, further photograph 1", ... for the others of that eye."""
    names, further = [], {"R": 0, "L": 0}
    for finding in findings:
        eye = _EYE_NAMES[finding.laterality]
        if finding.decisive:
            names.append(eye)
        else:
            further[finding.laterality] += 1
            names.append(f"{eye}, further photograph {further[finding.laterality]}")
    return names


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


def _photograph_group(finding: EyeFinding, name: str, algorithm: AlgorithmIdentity,
                      report_uid: str) -> hd.sr.MeasurementsAndQualitativeEvaluations:
    """TID 1501: the measurements and evaluations of one photograph of an eye.

    The Tracking UID of the deciding photograph's group is the eye's (the same
    whichever photograph decides); the others' are their photographs'.
    """
    tracking_uid = (derived_uid(report_uid, "eye", finding.laterality) if finding.decisive
                    else derived_uid(report_uid, "photograph", finding.sop_instance_uid))
    group = hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=tracking_uid, identifier=name),
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
    texts = [(SIMULATED_IMAGE, SIMULATED_IMAGE_NOTICE)] if finding.simulated else []
    texts += [(REASON_FOR_REPEATING_ACQUISITION, reason) for reason in finding.quality_reasons]
    if finding.laterality_doubt:
        texts.append((LATERALITY_DOUBT, finding.laterality_doubt))
    for concept, value in texts:
        group[0].ContentSequence.append(hd.sr.TextContentItem(
            name=coded(concept), value=value,
            relationship_type=hd.sr.RelationshipTypeValues.CONTAINS))
    return group


def _measurements(finding: EyeFinding) -> list[hd.sr.Measurement]:
    """TID 300: the model's probabilities and the threshold, unit "1" (CID 7181 "no units")."""
    values = list(zip(ICDR_GRADE_PROBABILITIES, finding.probabilities))
    optional = ((REFERABLE_DR_PROBABILITY, finding.referable_probability),
                (REFERRAL_THRESHOLD, finding.referral_threshold),
                (REFERABLE_DME_PROBABILITY, finding.dme_probability))
    values += [(name, value) for name, value in optional if value is not None]
    return [hd.sr.Measurement(name=coded(name), value=round(value, 6), unit=coded(NO_UNITS))
            for name, value in values]


def _yes_no(value: bool) -> hd.sr.CodedConcept:
    return coded(YES if value else NO)


def _evaluations(finding: EyeFinding) -> list[hd.sr.QualitativeEvaluation]:
    """Severity, the node's referral decision, oedema, quality, and the deciding photograph."""
    evaluations = []
    if finding.grade is not None:
        evaluations.append(hd.sr.QualitativeEvaluation(
            coded(DR_SEVERITY), coded(ICDR_GRADES[finding.grade])))
    if finding.referable is not None:
        evaluations.append(hd.sr.QualitativeEvaluation(
            coded(REFERABLE_DR), _yes_no(finding.referable)))
    if finding.borderline is not None:
        evaluations.append(hd.sr.QualitativeEvaluation(
            coded(REFERRAL_BORDERLINE), _yes_no(finding.borderline)))
    if finding.gradable:
        dme = coded(NOT_ASSESSED) if finding.dme is None else _yes_no(finding.dme)
        evaluations.append(hd.sr.QualitativeEvaluation(coded(REFERABLE_DME), dme))
    quality = GOOD_IMAGE_QUALITY if finding.gradable else UNUSABLE_IMAGE_QUALITY
    evaluations.append(hd.sr.QualitativeEvaluation(coded(IMAGE_QUALITY), coded(quality)))
    if not finding.gradable:
        evaluations.append(hd.sr.QualitativeEvaluation(
            coded(RECOMMENDATION), coded(REPEAT_FUNDUS_PHOTOGRAPHY)))
    evaluations.append(hd.sr.QualitativeEvaluation(coded(DECIDES_EYE),
                                                   _yes_no(finding.decisive)))
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
