"""What the AI node found, and which model found it: the inputs of its results.

The AI node writes two kinds of object into the study of the photographs it
graded (IHE AI Results): one DR report (Comprehensive 3D SR, TID 1500) for all
eyes, and one heat map capture (Secondary Capture) per eye. Each kind has its
own series, one per model version in the study:

- the report series (default number 900) and the capture series (901) have
  UIDs derived from (Study Instance UID, model name, model version);
- a report's SOP Instance UID is derived from the SOP Instance UIDs of all the
  photographs it grades and the model; a capture's from its own photograph
  and the model.

So grading the same photographs again with the same model gives the same UIDs,
and the archive replaces the objects rather than keeping copies; another model
version gives other series and instances beside them. Grading other
photographs of the study with the same model adds instances to the same series.
"""

from __future__ import annotations

import copy
import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import highdicom as hd
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID

from imaging_common.builders.ophthalmic import Laterality
from imaging_common.codes import ICDR_GRADES, PROCESSING_EQUIPMENT, Code
from imaging_common.exceptions import DicomInputError, MissingAttributeError
from imaging_common.simulation import is_simulated
from imaging_common.uids import (
    IMPLEMENTATION_CLASS_UID,
    IMPLEMENTATION_VERSION_NAME,
    derived_uid,
    validate_uid,
)

__all__ = [
    "AlgorithmIdentity",
    "EyeFinding",
    "GRADE_WORDS",
    "RESEARCH_ONLY_NOTICE",
    "ResultKind",
    "SIMULATED_IMAGE_NOTICE",
    "capture_instance_uid",
    "coded",
    "contributing_equipment",
    "local_coding_scheme",
    "plain_dataset",
    "report_instance_uid",
    "result_series_uid",
]

#: Written into every result, as text in the report and burned into the capture.
RESEARCH_ONLY_NOTICE = (
    "RESEARCH USE ONLY - NOT FOR CLINICAL USE. Produced by an AI model that has "
    "not been cleared for diagnosis; a clinician must review every result."
)

#: What the results say of a photograph that is a simulated capture
#: (:mod:`imaging_common.simulation`), after "Simulated image: ".
SIMULATED_IMAGE_NOTICE = "synthetic, not a photograph of the patient"

#: The ICDR severity levels in words, by grade, as a person reads them.
GRADE_WORDS = (
    "No apparent retinopathy",
    "Mild non-proliferative DR",
    "Moderate non-proliferative DR",
    "Severe non-proliferative DR",
    "Proliferative DR",
)

#: The designator of Fovea's local codes (PS3.3 8.2: "99" starts a local scheme).
LOCAL_CODING_SCHEME = "99FOVEA"

#: PS3.5 6.2: LO holds at most 64 characters.
_LO_MAX = 64
#: The longest reason or doubt a finding carries: a TEXT content item (UT) could
#: hold more, but a reader should not have to.
_UT_ITEM_MAX = 1024
#: Type 2 attributes of a photograph that highdicom reads without a check.
_TYPE_2_IDENTITY = ("PatientName", "PatientBirthDate", "PatientSex", "AccessionNumber",
                    "StudyID", "StudyDate", "StudyTime", "ReferringPhysicianName")
#: What the results never copy from a photograph.
_BULK_KEYWORDS = frozenset({"PixelData", "FloatPixelData", "DoubleFloatPixelData",
                            "IconImageSequence"})


class ResultKind(str, enum.Enum):
    """The kinds of result object; each has its own series."""

    REPORT = "dr-report"
    HEATMAP_CAPTURE = "heatmap-capture"


def _check_lo(keyword: str, value: str) -> None:
    if not value.strip():
        raise DicomInputError(f"{keyword} is empty")
    if len(value) > _LO_MAX or "\\" in value or any(ord(c) < 0x20 for c in value):
        raise DicomInputError(f"{keyword} is not a valid DICOM long string")


@dataclass(frozen=True)
class AlgorithmIdentity:
    """The model version that produced a result.

    Args:
        name: the model's name: Manufacturer's Model Name of the Contributing
            Equipment and TID 4019 Algorithm Name.
        version: the model's version: Software Versions and Algorithm Version.
        device_uid: the Device UID (0018,1002) of this model version, also the
            Device Observer UID of the report (TID 1004).
        manufacturer: who made the model.

    Raises:
        DicomInputError: a value does not fit its DICOM attribute.
    """

    name: str
    version: str
    device_uid: str
    manufacturer: str = "Fovea"

    def __post_init__(self) -> None:
        _check_lo("Manufacturer's Model Name", self.name)
        _check_lo("Software Versions", self.version)
        _check_lo("Manufacturer", self.manufacturer)
        validate_uid(self.device_uid, "DeviceUID")

    @property
    def label(self) -> str:
        """The model as people read it: name and version."""
        return f"{self.name} {self.version}"


def _probability(value: object, what: str) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise DicomInputError(f"{what} is not a number") from None
    if not math.isfinite(number) or not 0.0 <= number <= 1.0:
        raise DicomInputError(f"{what} is not a probability between 0 and 1")
    return number


@dataclass(frozen=True)
class EyeFinding:
    """What the AI node made of one photograph of one eye.

    Every photograph of an eye is graded and reported; one of them, the
    ``decisive`` one, gives the eye its finding. The referral decision is the
    node's own (its referable probability against the model's registered
    threshold): the builders write it as given and never decide again.

    Args:
        laterality: ``"R"`` or ``"L"`` (Image Laterality of the photograph).
        source: the Ophthalmic Photography image graded; only its identifying
            attributes are read (patient, study, SOP Class and Instance UIDs).
        grade: the ICDR grade 0-4, or None when the photograph is ungradable.
        probabilities: the model's probability of each grade 0-4 (five
            values), or ``()`` when ungradable.
        referable_probability: the model's probability of referable disease
            (DR grade 2 or worse, or referable macular oedema); None when ungradable.
        referable: the node's referral decision; None (unknown) when ungradable.
        quality_reasons: why the photograph is ungradable, one phrase each.
        referral_threshold: the model's registered threshold the decision was
            made against, where known.
        borderline: whether the referable probability lay within the node's
            borderline margin of the threshold; None when not stated.
        dme_probability: the model's probability of referable diabetic macular
            oedema; None when the model does not assess it.
        dme: the model's oedema finding; None when not assessed (or ungradable).
        decisive: whether this photograph gives the eye its finding.
        laterality_doubt: why the photograph may show the other eye; empty
            when there is no doubt.

    Whether the photograph is a simulated capture is read from its own
    markers (:attr:`simulated`), so that no result can leave it unsaid.

    Raises:
        DicomInputError: a value is out of range, an ungradable photograph
            carries a decision, or ``source`` lacks an identifier or shows the
            other eye.
    """

    laterality: str
    source: Dataset = field(repr=False, compare=False)
    grade: int | None
    probabilities: tuple[float, ...]
    referable_probability: float | None
    referable: bool | None
    quality_reasons: tuple[str, ...] = ()
    referral_threshold: float | None = None
    borderline: bool | None = None
    dme_probability: float | None = None
    dme: bool | None = None
    decisive: bool = True
    laterality_doubt: str = ""

    def __post_init__(self) -> None:
        laterality = str(getattr(self.laterality, "value", self.laterality))
        if laterality not in (Laterality.RIGHT.value, Laterality.LEFT.value):
            raise DicomInputError("laterality must be 'R' or 'L'")
        object.__setattr__(self, "laterality", laterality)
        self._check_source()
        self._check_grade()
        self._check_decision()
        given = self.quality_reasons
        reasons = (given,) if isinstance(given, str) else tuple(str(r) for r in given)
        if any(not reason.strip() or len(reason) > _UT_ITEM_MAX for reason in reasons):
            raise DicomInputError("a quality reason is empty or longer than 1024 characters")
        object.__setattr__(self, "quality_reasons", reasons)
        doubt = " ".join(str(self.laterality_doubt or "").split())
        if len(doubt) > _UT_ITEM_MAX:
            raise DicomInputError("the laterality doubt is longer than 1024 characters")
        object.__setattr__(self, "laterality_doubt", doubt)
        object.__setattr__(self, "decisive", bool(self.decisive))

    def _check_decision(self) -> None:
        """The referral and oedema values: present for a graded photograph, absent if not."""
        decided = (self.referable, self.referable_probability, self.referral_threshold,
                   self.borderline, self.dme_probability, self.dme)
        if self.grade is None:
            if any(value is not None for value in decided):
                raise DicomInputError("an ungradable photograph has no referral decision, "
                                      "probability or oedema finding")
            return
        if self.referable is None or self.referable_probability is None:
            raise DicomInputError("a graded photograph carries the referral decision "
                                  "and its probability")
        object.__setattr__(self, "referable", bool(self.referable))
        object.__setattr__(self, "referable_probability", _probability(
            self.referable_probability, "the referable probability"))
        if self.referral_threshold is not None:
            object.__setattr__(self, "referral_threshold", _probability(
                self.referral_threshold, "the referral threshold"))
        if self.borderline is not None:
            object.__setattr__(self, "borderline", bool(self.borderline))
        if (self.dme is None) != (self.dme_probability is None):
            raise DicomInputError("the oedema finding and its probability come together, "
                                  "or neither (not assessed)")
        if self.dme_probability is not None:
            object.__setattr__(self, "dme", bool(self.dme))
            object.__setattr__(self, "dme_probability", _probability(
                self.dme_probability, "the macular oedema probability"))

    def _check_source(self) -> None:
        if not isinstance(self.source, Dataset):
            raise DicomInputError("the graded photograph is not a DICOM dataset")
        for keyword in ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID",
                        "SeriesInstanceUID"):
            if not self.source.get(keyword):
                raise MissingAttributeError(keyword, "the graded photograph")
            validate_uid(self.source[keyword].value, keyword)
        if "PatientID" not in self.source:
            raise MissingAttributeError("PatientID", "the graded photograph")
        shown = self.source.get("ImageLaterality", "")
        if shown and shown != self.laterality:
            raise DicomInputError("the finding's laterality is not the photograph's")

    def _check_grade(self) -> None:
        if self.grade is None:
            if self.probabilities:
                raise DicomInputError("an ungradable eye has no grade probabilities")
            object.__setattr__(self, "probabilities", ())
            return
        if isinstance(self.grade, bool) or self.grade not in range(len(ICDR_GRADES)):
            raise DicomInputError("grade must be an ICDR grade from 0 to 4, or None")
        object.__setattr__(self, "grade", int(self.grade))
        if len(self.probabilities) != len(ICDR_GRADES):
            raise DicomInputError("a graded eye has one probability per ICDR grade (five)")
        object.__setattr__(self, "probabilities", tuple(
            _probability(p, f"the probability of grade {g}")
            for g, p in enumerate(self.probabilities)))

    def identity(self) -> Dataset:
        """The photograph's attributes without its pixels, for the results to copy.

        The Type 2 identity attributes are present, empty if the photograph
        lacks them, and the patient's name is blanked: highdicom logs a name it
        finds badly formed, and no patient data may reach a log. The builders
        copy the name themselves.
        """
        identity = Dataset()
        for element in self.source:
            if element.keyword not in _BULK_KEYWORDS:
                identity.add(copy.deepcopy(element))
        for keyword in _TYPE_2_IDENTITY:
            if keyword not in identity:
                setattr(identity, keyword, "")
        identity.PatientName = ""
        return identity

    @property
    def gradable(self) -> bool:
        return self.grade is not None

    @property
    def simulated(self) -> bool:
        """Whether the photograph is a simulated capture, not a photograph of the patient
        (:func:`imaging_common.simulation.is_simulated`)."""
        return is_simulated(self.source)

    @property
    def assesses_dme(self) -> bool:
        """Whether the model assessed macular oedema on this photograph."""
        return self.dme is not None

    @property
    def confidence(self) -> float | None:
        """The model's probability of the grade it gave; None when ungradable."""
        return None if self.grade is None else self.probabilities[self.grade]

    @property
    def sop_instance_uid(self) -> str:
        return str(self.source.SOPInstanceUID)

    @property
    def study_instance_uid(self) -> str:
        return str(self.source.StudyInstanceUID)


def result_series_uid(study_instance_uid: str, algorithm: AlgorithmIdentity,
                      kind: ResultKind) -> UID:
    """The Series Instance UID of ``kind`` results of one model version in a study."""
    validate_uid(study_instance_uid, "StudyInstanceUID")
    return derived_uid("fovea-ai-series", ResultKind(kind).value, study_instance_uid,
                       algorithm.name, algorithm.version)


def report_instance_uid(findings: Sequence[EyeFinding], algorithm: AlgorithmIdentity) -> UID:
    """The SOP Instance UID of the report grading these photographs with this model.

    The order of ``findings`` does not matter.
    """
    sources = sorted(finding.sop_instance_uid for finding in findings)
    return derived_uid("fovea-ai-report", *sources, algorithm.name, algorithm.version)


def capture_instance_uid(finding: EyeFinding, algorithm: AlgorithmIdentity) -> UID:
    """The SOP Instance UID of the heat map capture of this photograph by this model."""
    return derived_uid("fovea-ai-capture", finding.sop_instance_uid,
                       algorithm.name, algorithm.version)


def coded(code: Code) -> hd.sr.CodedConcept:
    """``code`` as highdicom's coded concept."""
    return hd.sr.CodedConcept(value=code.value, scheme_designator=code.scheme,
                              meaning=code.meaning)


def contributing_equipment(algorithm: AlgorithmIdentity) -> hd.ContributingEquipment:
    """The model as an item of the Contributing Equipment Sequence (PS3.3 C.12.1).

    Its Purpose of Reference is "Processing Equipment" (CID 7005); the Device
    UID names the model version.
    """
    item = hd.ContributingEquipment(
        manufacturer=algorithm.manufacturer,
        purpose_of_reference=coded(PROCESSING_EQUIPMENT),
        manufacturer_model_name=algorithm.name,
        software_versions=algorithm.version,
        contribution_description="AI grading of diabetic retinopathy (research use only)",
    )
    item.DeviceUID = algorithm.device_uid
    return item


def local_coding_scheme() -> Dataset:
    """A Coding Scheme Identification Sequence item (PS3.3 C.12.1.1.4) for "99FOVEA".

    The local codes of :mod:`imaging_common.codes` need it wherever they appear.
    """
    item = Dataset()
    item.CodingSchemeDesignator = LOCAL_CODING_SCHEME
    item.CodingSchemeName = "Fovea local concepts"
    item.CodingSchemeResponsibleOrganization = "Fovea"
    return item


def plain_dataset(built: Dataset) -> Dataset:
    """A highdicom object as a plain pydicom dataset with Fovea's file meta.

    The file meta names Fovea's implementation (PS3.10 7.1), as every object
    Fovea writes does.
    """
    ds = Dataset()
    ds.update(built)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = built.SOPClassUID
    meta.MediaStorageSOPInstanceUID = built.SOPInstanceUID
    meta.TransferSyntaxUID = built.file_meta.TransferSyntaxUID
    meta.ImplementationClassUID = IMPLEMENTATION_CLASS_UID
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
    ds.file_meta = meta
    return ds
