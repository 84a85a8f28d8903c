"""Today's worklist: the Modality Worklist C-FIND the station sends, and its items.

PS3.4 K.6.1: the station asks for the Scheduled Procedure Steps of its own AE
title (Scheduled Station AE Title), modality OP, starting today, and the
return keys IHE RAD-5 lists for a modality: the patient's identity, the
imaging service request and requested procedure identifiers, and the step.
Each answer becomes a :class:`WorklistItem`, which knows the inputs of the
image and MPPS builders (PS3.17 J.2.2: the identifiers an image carries).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pynetdicom import AE

from imaging_common.builders import Laterality, Patient, Request
from imaging_common.builders.procedure_step import ScheduledStep
from imaging_common.codes import Code
from imaging_common.exceptions import DicomInputError, PeerError
from imaging_common.logs import get_logger
from imaging_common.query_scu import find
from imaging_common.settings import Node
from imaging_common.sop_classes import MODALITY_WORKLIST_FIND
from imaging_common.uids import validate_uid

__all__ = ["MODALITY", "WorklistItem", "query_identifier", "query_worklist"]

log = get_logger(__name__)

#: The modality of every step the station performs: Ophthalmic Photography.
MODALITY = "OP"

#: Patient and request return keys (PS3.4 Table K.6-1).
_RETURN_KEYS = (
    "PatientName", "PatientID", "IssuerOfPatientID", "PatientBirthDate", "PatientSex",
    "AccessionNumber", "ReferringPhysicianName", "RequestedProcedureID",
    "RequestedProcedureDescription", "RequestedProcedurePriority", "StudyInstanceUID",
)
#: Scheduled Procedure Step return keys.
_STEP_RETURN_KEYS = (
    "ScheduledProcedureStepStartTime", "ScheduledProcedureStepID",
    "ScheduledProcedureStepDescription", "ScheduledProcedureStepStatus",
    "ScheduledPerformingPhysicianName",
)
_RIGHT = re.compile(r"\b(right|OD)\b", re.IGNORECASE)
_LEFT = re.compile(r"\b(left|OS)\b", re.IGNORECASE)
_BOTH = re.compile(r"\b(both|OU)\b", re.IGNORECASE)


def query_identifier(station_ae_title: str, day: date) -> Dataset:
    """The C-FIND identifier for ``day``'s OP steps of ``station_ae_title``."""
    query = Dataset()
    query.SpecificCharacterSet = "ISO_IR 192"
    for keyword in _RETURN_KEYS:
        setattr(query, keyword, "")
    query.RequestedProcedureCodeSequence = Sequence()
    step = Dataset()
    step.ScheduledStationAETitle = station_ae_title
    step.Modality = MODALITY
    step.ScheduledProcedureStepStartDate = day.strftime("%Y%m%d")
    for keyword in _STEP_RETURN_KEYS:
        setattr(step, keyword, "")
    step.ScheduledProtocolCodeSequence = Sequence()
    query.ScheduledProcedureStepSequence = Sequence([step])
    return query


def _text(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword)
    return "" if value is None else str(value).strip()


def _titles(sps: Dataset) -> tuple[str, ...]:
    """Scheduled Station AE Title: one title or several (VM 1-n)."""
    value = sps.get("ScheduledStationAETitle")
    if value is None or value == "":
        return ()
    values = [value] if isinstance(value, str) else list(value)
    return tuple(str(v).strip() for v in values if str(v).strip())


def _codes(ds: Dataset, keyword: str) -> tuple[Code, ...]:
    codes = []
    for item in ds.get(keyword) or ():
        value, scheme = _text(item, "CodeValue"), _text(item, "CodingSchemeDesignator")
        if value and scheme:
            codes.append(Code(value, scheme, _text(item, "CodeMeaning")))
    return tuple(codes)


def eyes_of(description: str) -> tuple[Laterality, ...]:
    """The eyes a step description names ("Fundus photography, right eye");
    both when it names one eye and the other or neither (IHE has no coded
    laterality in the worklist item; the EMR writes it in the description)."""
    right, left = bool(_RIGHT.search(description)), bool(_LEFT.search(description))
    if _BOTH.search(description) or right == left:
        return (Laterality.RIGHT, Laterality.LEFT)
    return (Laterality.RIGHT,) if right else (Laterality.LEFT,)


@dataclass(frozen=True)
class WorklistItem:
    """One Scheduled Procedure Step of the worklist, as the station uses it."""

    dataset: Dataset
    patient: Patient
    request: Request
    step: ScheduledStep
    station_ae_titles: tuple[str, ...]
    start_date: str
    start_time: str
    status: str
    priority: str
    eyes: tuple[Laterality, ...]

    @classmethod
    def from_dataset(cls, ds: Dataset) -> WorklistItem:
        """Read a C-FIND answer.

        Raises:
            DicomInputError: it lacks a usable Study Instance UID, a Patient ID
                or a Scheduled Procedure Step, or a value does not fit.
        """
        steps = list(ds.get("ScheduledProcedureStepSequence") or [])
        if len(steps) != 1:
            raise DicomInputError("the item has no single Scheduled Procedure Step")
        sps = steps[0]
        request = Request(
            study_instance_uid=validate_uid(ds.get("StudyInstanceUID"), "StudyInstanceUID"),
            accession_number=_text(ds, "AccessionNumber"),
            requested_procedure_id=_text(ds, "RequestedProcedureID"),
            scheduled_procedure_step_id=_text(sps, "ScheduledProcedureStepID"),
            requested_procedure_description=_text(ds, "RequestedProcedureDescription"),
            referring_physician_name=_text(ds, "ReferringPhysicianName"),
        )
        birth = _text(ds, "PatientBirthDate")
        patient = Patient(
            patient_id=_text(ds, "PatientID"),
            patient_name=_text(ds, "PatientName"),
            birth_date=_birth_date(birth),
            sex=_text(ds, "PatientSex") if _text(ds, "PatientSex") in ("M", "F", "O") else "",
            issuer_of_patient_id=_text(ds, "IssuerOfPatientID"),
        )
        description = _text(sps, "ScheduledProcedureStepDescription")
        step = ScheduledStep(request, description[:64],
                             protocol_codes=_codes(sps, "ScheduledProtocolCodeSequence"),
                             procedure_codes=_codes(ds, "RequestedProcedureCodeSequence"))
        return cls(
            dataset=ds, patient=patient, request=request, step=step,
            station_ae_titles=_titles(sps),
            start_date=_text(sps, "ScheduledProcedureStepStartDate"),
            start_time=_text(sps, "ScheduledProcedureStepStartTime"),
            status=_text(sps, "ScheduledProcedureStepStatus"),
            priority=_text(ds, "RequestedProcedurePriority"),
            eyes=eyes_of(" ".join((description, request.requested_procedure_description))),
        )

    @property
    def key(self) -> str:
        """What names the item on a form: its study and scheduled step."""
        return f"{self.request.study_instance_uid}/{self.request.scheduled_procedure_step_id}"

    @property
    def protocol_name(self) -> str:
        """The protocol the images are acquired with (MPPS Performed Series, Type 1)."""
        for code in self.step.protocol_codes:
            if code.meaning:
                return code.meaning[:64]
        return self.step.description or "Fundus photography"


def _birth_date(text: str) -> date | None:
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:8])) if len(text) == 8 else None
    except ValueError:
        return None


def query_worklist(ae: AE, worklist: Node, station_ae_title: str, day: date) -> list[WorklistItem]:
    """Ask ``worklist`` for ``day``'s OP steps of the station, sorted by start time.

    An answer that cannot be used is left out with a warning that names no value.

    Raises:
        PeerError: the worklist could not be reached, or answered a failure.
    """
    try:
        answers = find(ae, worklist, query_identifier(station_ae_title, day),
                       model=MODALITY_WORKLIST_FIND)
    except ValueError as exc:  # pynetdicom: the peer accepted no MWL context
        raise PeerError(f"{worklist.ae_title} does not accept Modality Worklist queries"
                        ) from exc
    items = []
    for answer in answers:
        try:
            item = WorklistItem.from_dataset(answer)
        except DicomInputError as exc:
            log.warning("worklist item left out", peer=worklist.ae_title,
                        reason=type(exc).__name__)
            continue
        # A worklist SCP may ignore a matching key; keep only what was asked for.
        if item.station_ae_titles and station_ae_title not in item.station_ae_titles:
            continue
        items.append(item)
    items.sort(key=lambda i: (i.start_date, i.start_time, i.request.accession_number))
    log.info("worklist", peer=worklist.ae_title, items=len(items))
    return items
