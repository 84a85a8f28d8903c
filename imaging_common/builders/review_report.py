"""The verified DR report: an ophthalmologist's sign-off of the AI's report, as an SR.

IHE AI Results leaves the AI's report unverified and preliminary; the
clinician's assessment of it is a new document in the same study, which
references the AI report and the photographs and carries the Verification
Flag VERIFIED with the verifying observer and organisation (PS3.3 C.17.2).
It is a Comprehensive 3D SR, like the AI report, following PS3.16 TID 1500
Measurement Report, so that whatever reads the AI's grades reads the
ophthalmologist's the same way::

    Imaging Measurement Report (DCM 126000)
     +- Language, Observation Context: the ophthalmologist as person observer
     |  (TID 1003: name, organisation, role "Physician")
     +- Procedure Reported: ocular fundus photography; DR screening
     +- AI report assessed: the AI report (COMPOSITE)
     +- Imaging Measurements
         +- Measurement Group "Right eye", then "Left eye" (TID 1501)
             +- Tracking Identifier; Tracking UID: the AI report's for that
             |  eye where it has one, so both findings track the same eye
             +- Finding: diabetic retinopathy, Finding Site: retina, laterality
             +- Source of Measurement: each photograph of the eye
             +- Qualitative evaluations: "Assessment of the AI finding"
             |  (agreement or disagreement with it); DR severity (ICDR), or
             |  unusable image quality and "repeat fundus photography" for an
             |  ungradable eye; referable DME yes, no or "not assessed";
             |  referable DR as the EMR decided it
             +- Text: the ophthalmologist's comment

The document is complete, final and verified. A correction after signing is a
new document in the same series whose Predecessor Documents Sequence names
the one it supersedes (PS3.3 C.17.2.3). Every verified report of a study is in
one series (default number 910), whose UID is derived from the Study Instance
UID.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import highdicom as hd
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes as sr_codes
from pydicom.uid import UID, Comprehensive3DSRStorage
from pydicom.valuerep import DT

from imaging_common.builders.ai_findings import coded, local_coding_scheme, plain_dataset
from imaging_common.codes import (
    AGREEMENT_WITH_AI_FINDING,
    AI_FINDING_ASSESSMENT,
    ASSESSED_AI_REPORT,
    COMMENT,
    DIABETIC_RETINOPATHY,
    DIABETIC_RETINOPATHY_SCREENING,
    DISAGREEMENT_WITH_AI_FINDING,
    DR_SEVERITY,
    ICDR_GRADES,
    IMAGE_QUALITY,
    LEFT,
    NO,
    NOT_ASSESSED,
    OCULAR_FUNDUS_PHOTOGRAPHY,
    PHYSICIAN,
    RECOMMENDATION,
    REFERABLE_DME,
    REFERABLE_DR,
    REPEAT_FUNDUS_PHOTOGRAPHY,
    RETINA,
    RIGHT,
    UNUSABLE_IMAGE_QUALITY,
    YES,
)
from imaging_common.exceptions import DicomInputError, MissingAttributeError
from imaging_common.uids import derived_uid, validate_uid

__all__ = [
    "EyeSignOff",
    "Verifier",
    "build_verified_report",
    "evidence_references",
    "verified_report_series_uid",
]

#: Series Number and Series Description of the verified reports of a study.
VERIFIED_SERIES_NUMBER = 910
VERIFIED_SERIES_DESCRIPTION = "DR screening report verified by ophthalmologist"

_EYE_NAMES = {"R": "Right eye", "L": "Left eye"}
_EYE_LATERALITY = {"R": RIGHT, "L": LEFT}
#: PS3.5 6.2: LO holds 64 characters; a TEXT item (UT) could hold more, but
#: no comment the review form accepts is longer than this.
_LO_MAX = 64
_COMMENT_MAX = 4096
#: The identity of a study every object in it repeats (Patient, General Study).
_STUDY_KEYWORDS = ("PatientID", "IssuerOfPatientID", "PatientBirthDate", "PatientSex",
                   "StudyInstanceUID", "StudyDate", "StudyTime", "StudyID",
                   "AccessionNumber", "ReferringPhysicianName", "StudyDescription",
                   "IssuerOfAccessionNumberSequence")
_REFERENCE_KEYWORDS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPClassUID", "SOPInstanceUID")
#: Characters a person name may not hold besides its delimiters (PS3.5 6.2).
_PN_FORBIDDEN = re.compile(r"[\\\x00-\x1f=]")


@dataclass(frozen=True)
class EyeSignOff:
    """The ophthalmologist's signed finding of one eye.

    Args:
        laterality: ``"R"`` or ``"L"``.
        agrees: True when the AI's finding was approved as it is, False when
            it was corrected.
        grade: the ICDR grade 0-4 signed; None when the eye is ungradable.
        macular_oedema: referable macular oedema present (True) or absent
            (False); None when not assessed, which is never written as absent.
        referable: the referral decision of the signed finding, as the EMR
            made it (never decided here); None exactly when ungradable.
        comment: why the finding was corrected, or any remark; may be empty.
        photographs: SOP Instance UIDs of the eye's photographs, as the AI
            report lists them in its evidence.

    Raises:
        DicomInputError: a value is out of range, or an ungradable eye carries
            a referral or oedema finding.
    """

    laterality: str
    agrees: bool
    grade: int | None
    macular_oedema: bool | None
    referable: bool | None
    comment: str = ""
    photographs: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.laterality not in _EYE_NAMES:
            raise DicomInputError("laterality must be 'R' or 'L'")
        if self.grade is None:
            if self.macular_oedema is not None or self.referable is not None:
                raise DicomInputError("an ungradable eye has no oedema finding nor referral")
        elif isinstance(self.grade, bool) or self.grade not in range(len(ICDR_GRADES)):
            raise DicomInputError("grade must be an ICDR grade from 0 to 4, or None")
        elif self.referable is None:
            raise DicomInputError("a graded eye carries its referral decision")
        comment = self.comment.strip()
        if len(comment) > _COMMENT_MAX:
            raise DicomInputError(f"the comment is longer than {_COMMENT_MAX} characters")
        object.__setattr__(self, "comment", comment)
        photographs = tuple(validate_uid(uid, "photograph SOPInstanceUID")
                            for uid in self.photographs)
        if not photographs:
            raise DicomInputError("a signed eye names its photographs")
        object.__setattr__(self, "photographs", photographs)


@dataclass(frozen=True)
class Verifier:
    """Who signed, for whom, and when (PS3.3 C.17.2 Verifying Observer Sequence).

    Args:
        name: the ophthalmologist's name as a DICOM person name
            (``Family^Given``, or the name as one component).
        organization: the organisation responsible for the verification.
        signed_at: when the review was signed, timezone-aware.

    Raises:
        DicomInputError: the name is not a valid person name, the organisation
            is empty or too long, or the time has no time zone.
    """

    name: str
    organization: str
    signed_at: datetime

    def __post_init__(self) -> None:
        components = self.name.split("^")
        if not self.name.strip("^ ") or _PN_FORBIDDEN.search(self.name) \
                or len(components) > 5 or any(len(c) > _LO_MAX for c in components):
            raise DicomInputError("VerifyingObserverName is not a valid DICOM person name")
        if "^" not in self.name:  # a name in one component (PS3.5 6.2.1.2)
            object.__setattr__(self, "name", f"{self.name}^")
        if not self.organization.strip() or len(self.organization) > _LO_MAX \
                or "\\" in self.organization:
            raise DicomInputError("VerifyingOrganization must be 1 to 64 characters")
        if self.signed_at.tzinfo is None:
            raise DicomInputError("the signing time must be timezone-aware")


def verified_report_series_uid(study_instance_uid: str) -> UID:
    """The Series Instance UID of the verified reports of a study."""
    validate_uid(study_instance_uid, "StudyInstanceUID")
    return derived_uid("fovea-verified-report-series", study_instance_uid)


def evidence_references(report: Dataset) -> dict[str, Dataset]:
    """The instances an SR lists as evidence, by SOP Instance UID.

    Each value holds Study, Series, SOP Class and SOP Instance UID: what a
    reference to the instance needs. Both the Current Requested Procedure
    Evidence Sequence and the Pertinent Other Evidence Sequence are read.
    """
    references = {}
    for keyword in ("CurrentRequestedProcedureEvidenceSequence",
                    "PertinentOtherEvidenceSequence"):
        for study in report.get(keyword, []):
            for series in study.get("ReferencedSeriesSequence", []):
                for instance in series.get("ReferencedSOPSequence", []):
                    reference = Dataset()
                    reference.StudyInstanceUID = study.StudyInstanceUID
                    reference.SeriesInstanceUID = series.SeriesInstanceUID
                    reference.SOPClassUID = instance.ReferencedSOPClassUID
                    reference.SOPInstanceUID = instance.ReferencedSOPInstanceUID
                    references[str(instance.ReferencedSOPInstanceUID)] = reference
    return references


def build_verified_report(ai_report: Dataset, eyes: Sequence[EyeSignOff], verifier: Verifier,
                          *, sop_instance_uid: str, predecessor: str | None = None,
                          instance_number: int = 1, manufacturer: str = "Fovea",
                          series_number: int = VERIFIED_SERIES_NUMBER) -> Dataset:
    """Build the verified report of one signing of the AI report ``ai_report``.

    Patient, study and request come from the AI report, which goes into the
    evidence with every photograph named by ``eyes``.

    Args:
        ai_report: the AI's DR report as archived (its header is enough when
            it lists the photographs as evidence; with its content tree, each
            eye keeps the AI report's Tracking UID).
        eyes: one sign-off per eye the AI report graded.
        verifier: who signed, for which organisation, and when.
        sop_instance_uid: this document's SOP Instance UID.
        predecessor: the SOP Instance UID of the verified report of the same
            study that this one supersedes (written by this builder), if any.
        instance_number: Instance Number in the verified report series: the
            how-manieth signing of the study this is.
        manufacturer: Manufacturer of the system writing the document.
        series_number: Series Number of the verified report series.

    Raises:
        DicomInputError: the AI report lacks an identifier, an eye is signed
            twice or not at all, a photograph is not in the AI report's
            evidence, or a UID is not valid.
        MissingAttributeError: the AI report lacks a required attribute.
    """
    source = _report_identity(ai_report)
    ordered = _checked_eyes(eyes)
    references = evidence_references(ai_report)
    photographs = {uid: _reference(references, uid) for eye in ordered for uid in eye.photographs}
    uid = validate_uid(sop_instance_uid, "SOPInstanceUID")
    study_uid = str(source.StudyInstanceUID)
    tracking = _tracking_uids(ai_report)
    report = hd.sr.MeasurementReport(
        observation_context=_observation_context(verifier),
        procedure_reported=[coded(OCULAR_FUNDUS_PHOTOGRAPHY),
                            coded(DIABETIC_RETINOPATHY_SCREENING)],
        imaging_measurements=[
            _eye_group(eye, [photographs[p] for p in eye.photographs],
                       tracking.get(eye.laterality) or derived_uid(uid, "eye", eye.laterality))
            for eye in ordered],
    )
    # After the procedure reported, before the imaging measurements (126010).
    content = report[0].ContentSequence
    at = next(i for i, item in enumerate(content) if _concept(item) == "126010")
    content.insert(at, hd.sr.CompositeContentItem(
        name=coded(ASSESSED_AI_REPORT), referenced_sop_class_uid=source.SOPClassUID,
        referenced_sop_instance_uid=source.SOPInstanceUID,
        relationship_type=hd.sr.RelationshipTypeValues.CONTAINS))
    previous = None if predecessor is None else [_predecessor(study_uid, predecessor)]
    stamp = verifier.signed_at
    document = hd.sr.Comprehensive3DSR(
        evidence=[source, *photographs.values()],
        content=report[0],
        series_instance_uid=verified_report_series_uid(study_uid),
        series_number=series_number,
        sop_instance_uid=uid,
        instance_number=instance_number,
        manufacturer=manufacturer,
        series_description=VERIFIED_SERIES_DESCRIPTION,
        content_date=stamp.date(),
        content_time=stamp.time().replace(tzinfo=None),
        is_complete=True,
        is_final=True,
        is_verified=True,
        verifying_observer_name=verifier.name,
        verifying_organization=verifier.organization,
        institution_name=verifier.organization,
        performed_procedure_codes=[coded(DIABETIC_RETINOPATHY_SCREENING)],
        requested_procedures=_requests(ai_report) or None,
        previous_versions=previous,
        specific_character_set="ISO_IR 192",
    )
    document.VerifyingObserverSequence[0].VerificationDateTime = DT(stamp)
    document.PatientName = ai_report.get("PatientName", "")
    document.CodingSchemeIdentificationSequence = [local_coding_scheme()]
    return plain_dataset(document)


def _report_identity(ai_report: Dataset) -> Dataset:
    """The AI report's identifiers and its study's identity, name blanked.

    highdicom logs a person name it finds badly formed, and no patient data
    may reach a log: the name is copied into the document afterwards.
    """
    if not isinstance(ai_report, Dataset):
        raise DicomInputError("the AI report is not a DICOM dataset")
    for keyword in _REFERENCE_KEYWORDS:
        if not ai_report.get(keyword):
            raise MissingAttributeError(keyword, "the AI report")
        validate_uid(ai_report[keyword].value, keyword)
    if "PatientID" not in ai_report:
        raise MissingAttributeError("PatientID", "the AI report")
    identity = Dataset()
    for keyword in (*_REFERENCE_KEYWORDS, *_STUDY_KEYWORDS):
        if keyword in ai_report:
            identity[keyword] = copy.deepcopy(ai_report[keyword])
    for keyword in ("PatientBirthDate", "PatientSex", "AccessionNumber", "StudyID",
                    "StudyDate", "StudyTime", "ReferringPhysicianName"):
        if keyword not in identity:
            setattr(identity, keyword, "")
    identity.PatientName = ""
    return identity


def _checked_eyes(eyes: Sequence[EyeSignOff]) -> list[EyeSignOff]:
    """The sign-offs, right eye first, each eye once."""
    eyes = list(eyes)
    if not eyes:
        raise DicomInputError("a verified report signs at least one eye")
    if len({eye.laterality for eye in eyes}) != len(eyes):
        raise DicomInputError("a verified report signs each eye once")
    uids = [uid for eye in eyes for uid in eye.photographs]
    if len(set(uids)) != len(uids):
        raise DicomInputError("a photograph belongs to one eye")
    return sorted(eyes, key=lambda eye: list(_EYE_NAMES).index(eye.laterality))


def _reference(references: dict[str, Dataset], uid: str) -> Dataset:
    try:
        return references[uid]
    except KeyError:
        raise DicomInputError(f"photograph {uid} is not in the AI report's evidence") from None


def _predecessor(study_instance_uid: str, sop_instance_uid: str) -> Dataset:
    """The verified report superseded: same study, same series, same SOP class."""
    item = Dataset()
    item.StudyInstanceUID = study_instance_uid
    item.SeriesInstanceUID = verified_report_series_uid(study_instance_uid)
    item.SOPClassUID = Comprehensive3DSRStorage
    item.SOPInstanceUID = validate_uid(sop_instance_uid, "predecessor SOPInstanceUID")
    return item


def _requests(ai_report: Dataset) -> list[Dataset]:
    """The AI report's Referenced Request Sequence: the signing fulfils the same order."""
    return [copy.deepcopy(item) for item in ai_report.get("ReferencedRequestSequence", [])]


def _content(items: Sequence[Dataset]) -> Iterator[Dataset]:
    for item in items:
        yield item
        yield from _content(item.get("ContentSequence", []))


def _concept(item: Dataset) -> str:
    """The code value of an item's concept name ("" for a long or URN code)."""
    names = item.get("ConceptNameCodeSequence", [])
    return str(names[0].get("CodeValue", "")) if names else ""


def _tracking_uids(ai_report: Dataset) -> dict[str, str]:
    """Each eye's Tracking UID in the AI report, where its content tree is given.

    The AI report names the group of the photograph deciding an eye after the
    eye alone ("Right eye"); further photographs' groups say more.
    """
    by_name = {name: side for side, name in _EYE_NAMES.items()}
    found = {}
    for item in _content(ai_report.get("ContentSequence", [])):
        if item.get("ValueType") != "CONTAINER":
            continue
        children = item.get("ContentSequence", [])
        identifiers = [c.TextValue for c in children if c.get("ValueType") == "TEXT"
                       and _concept(c) == "112039"]
        uids = [c.UID for c in children if c.get("ValueType") == "UIDREF"
                and _concept(c) == "112040"]
        if identifiers and uids and identifiers[0] in by_name:
            found[by_name[identifiers[0]]] = str(uids[0])
    return found


def _observation_context(verifier: Verifier) -> hd.sr.ObservationContext:
    """TID 1001 with the ophthalmologist as the person observer (TID 1003)."""
    person = hd.sr.PersonObserverIdentifyingAttributes(
        name=verifier.name, organization_name=verifier.organization,
        role_in_organization=coded(PHYSICIAN))
    return hd.sr.ObservationContext(observer_person_context=hd.sr.ObserverContext(
        observer_type=sr_codes.DCM.Person, observer_identifying_attributes=person))


def _yes_no(value: bool) -> hd.sr.CodedConcept:
    return coded(YES if value else NO)


def _eye_group(eye: EyeSignOff, photographs: Sequence[Dataset],
               tracking_uid: str) -> hd.sr.MeasurementsAndQualitativeEvaluations:
    """TID 1501: the ophthalmologist's finding of one eye."""
    group = hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=tracking_uid,
                                                     identifier=_EYE_NAMES[eye.laterality]),
        finding_type=coded(DIABETIC_RETINOPATHY),
        finding_sites=[hd.sr.FindingSite(coded(RETINA),
                                         laterality=coded(_EYE_LATERALITY[eye.laterality]))],
        qualitative_evaluations=_evaluations(eye),
        source_images=[hd.sr.SourceImageForMeasurementGroup(
            referenced_sop_class_uid=p.SOPClassUID,
            referenced_sop_instance_uid=p.SOPInstanceUID) for p in photographs],
    )
    if eye.comment:
        group[0].ContentSequence.append(hd.sr.TextContentItem(
            name=coded(COMMENT), value=eye.comment,
            relationship_type=hd.sr.RelationshipTypeValues.CONTAINS))
    return group


def _evaluations(eye: EyeSignOff) -> list[hd.sr.QualitativeEvaluation]:
    """Agreement with the AI, then the signed finding; oedema "not assessed" stays so."""
    agreement = AGREEMENT_WITH_AI_FINDING if eye.agrees else DISAGREEMENT_WITH_AI_FINDING
    evaluations = [hd.sr.QualitativeEvaluation(coded(AI_FINDING_ASSESSMENT), coded(agreement))]
    if eye.grade is None:
        return evaluations + [
            hd.sr.QualitativeEvaluation(coded(IMAGE_QUALITY), coded(UNUSABLE_IMAGE_QUALITY)),
            hd.sr.QualitativeEvaluation(coded(RECOMMENDATION), coded(REPEAT_FUNDUS_PHOTOGRAPHY)),
        ]
    oedema = coded(NOT_ASSESSED) if eye.macular_oedema is None else _yes_no(eye.macular_oedema)
    return evaluations + [
        hd.sr.QualitativeEvaluation(coded(DR_SEVERITY), coded(ICDR_GRADES[eye.grade])),
        hd.sr.QualitativeEvaluation(coded(REFERABLE_DME), oedema),
        hd.sr.QualitativeEvaluation(coded(REFERABLE_DR), _yes_no(bool(eye.referable))),
    ]
