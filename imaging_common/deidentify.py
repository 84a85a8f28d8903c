"""De-identification: PS3.15 Annex E Basic Application Level Confidentiality Profile.

Fovea applies the Basic Profile (PS3.15 E.2) with the Retain Longitudinal
Temporal Information with Modified Dates Option (E.3.6): every date is moved by
a whole number of days that is the same for all of one patient's dates, and
times are kept. Retain UIDs is *not* used: every instance UID is replaced.

The knowledge lives in :data:`BASIC_PROFILE`, the rows of PS3.15 Table E.1-1
for the attributes Fovea's objects carry plus the common PHI attributes, each
with its action code (:class:`Action`). Attributes the table does not name are
kept, except that, whatever the table says, and recursively into sequences:

* private attributes are removed (E.3.10 Retain Safe Private is not used);
* every UI value is replaced (action U) unless it names a class, a transfer
  syntax or another UID registered in PS3.6;
* every DA value, and the date of every DT value, is shifted (action C).

Replacement UIDs and date shifts are keyed with a per-export secret salt, so
the same input gives the same output across an export (and across re-runs with
the same salt) while nobody without the salt can map them back.

One deliberate departure: the TEXT content items of Fovea's SRs are kept
(Table E.1-1 removes Text Value). They are written by the AI node, never typed
by a person, so they are what the Clean Structured Content Option (E.3.9) would
keep; person names and UIDs in the content tree are replaced.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from enum import Enum
from typing import Any

from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.tag import BaseTag

from imaging_common.codes import Code
from imaging_common.exceptions import DicomInputError
from imaging_common.uids import derived_uid

__all__ = [
    "BASIC_PROFILE",
    "BASIC_PROFILE_CODE",
    "Action",
    "BurnedIn",
    "Deidentifier",
    "MODIFIED_DATES_OPTION_CODE",
    "Pseudonym",
    "burned_in_annotation",
    "patient_key",
]

#: CID 7050 De-identification Method: the profile and the option applied.
BASIC_PROFILE_CODE = Code("113100", "DCM", "Basic Application Confidentiality Profile")
MODIFIED_DATES_OPTION_CODE = Code(
    "113107", "DCM", "Retain Longitudinal Temporal Information Modified Dates Option"
)

#: Values of De-identification Method (0012,0063), LO: 64 characters each.
METHOD_DESCRIPTION = (
    "PS3.15 E Basic Application Confidentiality Profile",
    "Retain Longitudinal Temporal Information Modified Dates Option",
    "Fovea research export: SR text kept, UIDs replaced",
)

#: The dummy value of action D (PS3.15 E.1.1: a value consistent with the VR).
DUMMY = "ANONYMIZED"

#: How far back a patient's dates move: 1 to this many days.
MAX_DATE_SHIFT_DAYS = 3650


class Action(Enum):
    """The action codes of PS3.15 Table E.1-1."""

    D = "replace with a non-zero length dummy value"
    Z = "replace with a zero length value"
    X = "remove"
    K = "keep"
    C = "clean: replace with values of similar meaning"
    U = "replace with a consistent non-zero length UID"


_A = Action

#: PS3.15 Table E.1-1, Basic Profile column, for the attributes Fovea's objects
#: carry and the common PHI attributes. Where the table allows a choice (X/Z,
#: X/Z/D) the weakest action that keeps our IODs valid is used. Dates, times
#: and UIDs not named here are still handled by VR (see the module docstring).
BASIC_PROFILE: Mapping[str, Action] = {
    # Patient
    "PatientName": _A.Z, "PatientID": _A.Z, "PatientBirthDate": _A.Z,
    "PatientSex": _A.Z, "PatientAge": _A.X, "PatientAddress": _A.X,
    "PatientBirthTime": _A.X, "PatientBirthName": _A.X, "PatientMotherBirthName": _A.X,
    "OtherPatientIDs": _A.X, "OtherPatientIDsSequence": _A.X, "OtherPatientNames": _A.X,
    "IssuerOfPatientID": _A.X, "IssuerOfPatientIDQualifiersSequence": _A.X,
    "PatientTelephoneNumbers": _A.X, "PatientSize": _A.X, "PatientWeight": _A.X,
    "MedicalRecordLocator": _A.X, "EthnicGroup": _A.X, "Occupation": _A.X,
    "MilitaryRank": _A.X, "BranchOfService": _A.X, "CountryOfResidence": _A.X,
    "RegionOfResidence": _A.X, "PatientReligiousPreference": _A.X,
    "AdditionalPatientHistory": _A.X, "PatientComments": _A.X, "MedicalAlerts": _A.X,
    "Allergies": _A.X, "PregnancyStatus": _A.X, "SmokingStatus": _A.X,
    "ResponsiblePerson": _A.X, "ResponsibleOrganization": _A.X,
    "PatientInsurancePlanCodeSequence": _A.X, "ReferencedPatientSequence": _A.X,
    "InsurancePlanIdentification": _A.X, "PatientState": _A.X,
    # Study, visit and request
    "AccessionNumber": _A.Z, "StudyID": _A.Z, "StudyDescription": _A.X,
    "ReferringPhysicianName": _A.Z, "ReferringPhysicianAddress": _A.X,
    "ReferringPhysicianTelephoneNumbers": _A.X, "PhysiciansOfRecord": _A.X,
    "NameOfPhysiciansReadingStudy": _A.X, "RequestingPhysician": _A.X,
    "RequestingService": _A.X, "AdmissionID": _A.X, "AdmittingDiagnosesDescription": _A.X,
    "ReasonForStudy": _A.X, "RequestedProcedureDescription": _A.Z,
    "RequestedProcedureID": _A.Z, "RequestedProcedureComments": _A.X,
    "ReasonForTheRequestedProcedure": _A.X, "ImagingServiceRequestComments": _A.X,
    "PlacerOrderNumberImagingServiceRequest": _A.Z,
    "FillerOrderNumberImagingServiceRequest": _A.Z,
    "RequestAttributesSequence": _A.X, "ReferencedStudySequence": _A.Z,
    "ScheduledProcedureStepID": _A.X, "ScheduledProcedureStepDescription": _A.X,
    "StudyComments": _A.X, "VisitComments": _A.X, "CurrentPatientLocation": _A.X,
    "InterpretationAuthor": _A.X, "InterpretationText": _A.X,
    # Performed Procedure Step
    "PerformedProcedureStepID": _A.X, "PerformedProcedureStepDescription": _A.X,
    "PerformedProcedureStepStartDate": _A.X, "PerformedProcedureStepStartTime": _A.X,
    "PerformedProcedureStepEndDate": _A.X, "PerformedProcedureStepEndTime": _A.X,
    "CommentsOnThePerformedProcedureStep": _A.X, "PerformedLocation": _A.X,
    "PerformedStationName": _A.X, "PerformedStationAETitle": _A.X,
    "ReferencedPerformedProcedureStepSequence": _A.Z,
    # Series, equipment and people at work
    "SeriesDescription": _A.X, "ProtocolName": _A.X, "PerformingPhysicianName": _A.X,
    "OperatorsName": _A.X, "InstitutionName": _A.X, "InstitutionAddress": _A.X,
    "InstitutionalDepartmentName": _A.X, "StationName": _A.X,
    "DeviceSerialNumber": _A.X, "ContributingEquipmentSequence": _A.X,
    "SourceApplicationEntityTitle": _A.X, "TimezoneOffsetFromUTC": _A.X,
    "AcquisitionDeviceProcessingDescription": _A.X, "DetectorID": _A.X,
    "PlateID": _A.X, "CassetteID": _A.X, "GantryID": _A.X,
    # Image: free text and descriptions
    "ImageComments": _A.X, "DerivationDescription": _A.X, "AcquisitionComments": _A.X,
    "FrameComments": _A.X, "TextComments": _A.X, "TextString": _A.X,
    "ContentCreatorName": _A.Z, "VerifyingObserverName": _A.D,
    "VerifyingOrganization": _A.X, "PersonName": _A.D, "PersonAddress": _A.X,
    "PersonTelephoneNumbers": _A.X, "DigitalSignaturesSequence": _A.X,
    "OriginalAttributesSequence": _A.X, "ModifiedAttributesSequence": _A.X,
    # UIDs (action U); every other instance UID is replaced by VR as well.
    "StudyInstanceUID": _A.U, "SeriesInstanceUID": _A.U, "SOPInstanceUID": _A.U,
    "ReferencedSOPInstanceUID": _A.U, "FrameOfReferenceUID": _A.U,
    "DeviceUID": _A.U, "UID": _A.U, "TrackingUID": _A.U,
    "InstanceCreatorUID": _A.U, "IrradiationEventUID": _A.U,
    # Dates (action C under the Modified Dates Option); times are kept.
    "StudyDate": _A.C, "SeriesDate": _A.C, "AcquisitionDate": _A.C, "ContentDate": _A.C,
    "AcquisitionDateTime": _A.C, "InstanceCreationDate": _A.C,
    "DateOfSecondaryCapture": _A.C, "ObservationDateTime": _A.C, "Date": _A.C,
    "DateTime": _A.C,
}

#: UI attributes that name a kind of thing, not an instance: never replaced.
KEPT_UID_KEYWORDS = frozenset({
    "SOPClassUID", "ReferencedSOPClassUID", "MediaStorageSOPClassUID",
    "TransferSyntaxUID", "ImplementationClassUID", "CodingSchemeUID",
    "MappingResourceUID", "ContextGroupExtensionCreatorUID",
    "PrivateInformationCreatorUID", "RelatedGeneralSOPClassUID",
    "OriginalSpecializedSOPClassUID", "ReferencedTransferSyntaxUIDInFile",
    "SOPClassesInStudy", "ReferencedSOPClassUIDInFile", "AffectedSOPClassUID",
})

#: PS3.6 A: UIDs the standard registers (SOP classes, well-known frames...).
DICOM_UID_PREFIX = "1.2.840.10008."

_TAG_ACTIONS: dict[BaseTag, Action] = {}
for _keyword, _action in BASIC_PROFILE.items():
    _tag = tag_for_keyword(_keyword)
    if _tag is None:
        raise ImportError(f"BASIC_PROFILE names an unknown keyword: {_keyword}")
    _TAG_ACTIONS[BaseTag(_tag)] = _action


class BurnedIn(Enum):
    """Burned In Annotation (0028,0301) of an image, as the export treats it."""

    NO = "NO"
    YES = "YES"
    UNKNOWN = "UNKNOWN"
    NOT_AN_IMAGE = "NOT AN IMAGE"


def burned_in_annotation(ds: Dataset) -> BurnedIn:
    """Say whether an instance's pixels may show identifying text (PS3.3 C.7.6.1.1.8).

    Only an image that states ``NO`` is safe; absent or any other value is unknown.
    """
    if "PixelData" not in ds and "Rows" not in ds:
        return BurnedIn.NOT_AN_IMAGE
    value = str(ds.get("BurnedInAnnotation", "") or "").strip().upper()
    if value == "NO":
        return BurnedIn.NO
    return BurnedIn.YES if value == "YES" else BurnedIn.UNKNOWN


def patient_key(ds: Dataset) -> tuple[str, str]:
    """Return (Patient ID, Issuer of Patient ID): who an instance is about.

    Raises:
        DicomInputError: the instance has no Patient ID.
    """
    patient_id = str(ds.get("PatientID", "") or "").strip()
    if not patient_id:
        raise DicomInputError("instance lacks PatientID")
    return patient_id, str(ds.get("IssuerOfPatientID", "") or "").strip()


@dataclass(frozen=True)
class Pseudonym:
    """What replaces one patient's identity in every exported instance.

    Attributes:
        patient_id: the new Patient ID (0010,0020), e.g. ``RESEARCH-0001``.
        patient_name: the new Patient's Name (0010,0010).
        date_shift_days: days added to every date of the patient (negative).
    """

    patient_id: str
    patient_name: str
    date_shift_days: int


class Deidentifier:
    """Applies the profile with one export's secret salt.

    Args:
        salt: the per-export secret; equal salts give equal UIDs and shifts.

    Raises:
        ValueError: the salt is shorter than 16 bytes.
    """

    def __init__(self, salt: bytes) -> None:
        if len(salt) < 16:
            raise ValueError("the de-identification salt must have at least 16 bytes")
        self._salt = salt
        self._uids: dict[str, str] = {}

    def _keyed(self, *parts: str) -> bytes:
        message = "\x1f".join(parts).encode("utf-8")
        return hmac.new(self._salt, message, hashlib.sha256).digest()

    def uid(self, original: str) -> str:
        """Return the replacement of an instance UID (action U), the same every time."""
        original = original.strip().rstrip("\x00")
        if original not in self._uids:
            self._uids[original] = str(derived_uid(self._keyed("uid", original).hex()))
        return self._uids[original]

    def date_shift_days(self, key: tuple[str, str]) -> int:
        """Return the whole days (-MAX_DATE_SHIFT_DAYS to -1) one patient's dates move."""
        digest = self._keyed("date-shift", *key)
        return -(1 + int.from_bytes(digest[:8], "big") % MAX_DATE_SHIFT_DAYS)

    def pseudonym_order(self, key: tuple[str, str]) -> str:
        """A keyed sort key, so pseudonym numbers do not follow patient IDs."""
        return self._keyed("pseudonym", *key).hex()

    def deidentify(self, ds: Dataset, pseudonym: Pseudonym) -> Dataset:
        """De-identify ``ds`` in place and return it (file meta is not touched).

        Raises:
            DicomInputError: a date or date-time value cannot be parsed.
        """
        self._clean(ds, pseudonym.date_shift_days)
        ds.PatientID = pseudonym.patient_id
        ds.PatientName = pseudonym.patient_name
        ds.PatientIdentityRemoved = "YES"
        ds.LongitudinalTemporalInformationModified = "MODIFIED"
        ds.DeidentificationMethod = list(METHOD_DESCRIPTION)
        ds.DeidentificationMethodCodeSequence = [
            BASIC_PROFILE_CODE.to_item(), MODIFIED_DATES_OPTION_CODE.to_item()
        ]
        return ds

    def _clean(self, ds: Dataset, shift: int) -> None:
        """Apply the table, then the rules by VR, to ``ds`` and its sequences."""
        for elem in list(ds):
            if elem.tag.is_private or elem.tag.group in range(0x5000, 0x5100, 2):
                # Private attributes; retired Curve Data groups (50xx) carry text.
                del ds[elem.tag]
                continue
            action = _TAG_ACTIONS.get(elem.tag)
            if action is Action.X:
                del ds[elem.tag]
                continue
            if action is Action.Z:
                elem.value = [] if elem.VR == "SQ" else None
            elif action is Action.D:
                elem.value = DUMMY
            self._clean_by_vr(elem, shift)

    def _clean_by_vr(self, elem: DataElement, shift: int) -> None:
        if elem.VR == "SQ":
            for item in elem.value:
                self._clean(item, shift)
        elif elem.VR == "UI" and elem.keyword not in KEPT_UID_KEYWORDS:
            elem.value = _map_values(elem.value, self._replace_uid)
        elif elem.VR == "DA":
            elem.value = _map_values(elem.value, lambda v: shift_date(v, shift))
        elif elem.VR == "DT":
            elem.value = _map_values(elem.value, lambda v: shift_datetime(v, shift))

    def _replace_uid(self, value: str) -> str:
        if value.startswith(DICOM_UID_PREFIX):
            return value
        return self.uid(value)


def _map_values(value: Any, change: Any) -> Any:
    """Apply ``change`` to each non-empty value of a single or multiple value."""
    if value is None or value == "":
        return value
    if isinstance(value, (list, MultiValue)):
        return [change(str(v)) if str(v) else v for v in value]
    return change(str(value))


def shift_date(value: str, days: int) -> str:
    """Return a DA value moved by ``days`` (PS3.5 6.2, ``YYYYMMDD``).

    Raises:
        DicomInputError: the value is not a DA.
    """
    text = value.strip()
    try:
        moved = date(int(text[:4]), int(text[4:6]), int(text[6:8])) + timedelta(days=days)
    except ValueError:
        raise DicomInputError("a DA value is not a date") from None
    if len(text) != 8:
        raise DicomInputError("a DA value is not a date")
    return moved.strftime("%Y%m%d")


def shift_datetime(value: str, days: int) -> str:
    """Return a DT value whose date part moved by ``days``; time and offset are kept.

    A DT of year or month precision is moved as its first day and keeps its precision.

    Raises:
        DicomInputError: the value is not a DT.
    """
    text = value.strip()
    digits = len(text) - len(text.lstrip("0123456789"))
    precision = min(digits, 8)
    if precision not in (4, 6, 8):
        raise DicomInputError("a DT value is not a date-time")
    padded = text[:precision] + "0101"[precision - 4:] if precision < 8 else text[:8]
    return shift_date(padded, days)[:precision] + text[precision:]
