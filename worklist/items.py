"""Worklist items: an EMR order as the Modality Worklist Information Model shows it.

The attributes are those of PS3.4 K.6.1.2.2 (Table K.6-1) that IHE RAD-5
(Query Modality Worklist) has a modality use: the Patient module's identity,
the Imaging Service Request (Accession Number, Referring and Requesting
Physician), the Requested Procedure (ID, description, code, Study Instance UID,
priority, reason) and one Scheduled Procedure Step (station AE title, start
date and time, modality OP, step ID and description, protocol code, status).
Return keys the item lacks are answered empty (PS3.4 C.2.2.1.2).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.valuerep import PersonName

from imaging_common.codes import REQUESTED_PROCEDURE_DR_SCREENING
from imaging_common.exceptions import DicomInputError
from imaging_common.logs import get_logger
from imaging_common.uids import validate_uid

__all__ = ["EYES", "MODALITY", "order_to_item", "person_name", "worklist_items"]

log = get_logger(__name__)

#: The modality every Fovea order is scheduled on: Ophthalmic Photography.
MODALITY = "OP"
#: The character set of every item: the EMR's names are Unicode (PS3.3 C.12.1.1.2).
CHARACTER_SET = "ISO_IR 192"
#: Scheduled Procedure Step Status (0040,0020) per EMR order state (PS3.3 C.4.10).
_STEP_STATUS = {"scheduled": "SCHEDULED", "in_progress": "STARTED"}
#: How the Scheduled Procedure Step Description names the eyes to photograph.
EYES = {"both": "both eyes", "right": "right eye", "left": "left eye"}
#: Requested Procedure Priority (0040,1003) values the EMR gives (PS3.3 C.4.11).
_PRIORITIES = frozenset({"STAT", "HIGH", "ROUTINE"})
_SEXES = frozenset({"M", "F", "O"})


def person_name(full_name: str) -> str:
    """A display name ("Ada M. Lovelace") as a DICOM PN value, family name first.

    The EMR gives a user's full name in reading order; its last word is taken
    as the family name, the rest as the given names (PS3.5 6.2.1).
    """
    words = full_name.replace("^", " ").replace("\\", " ").replace("=", " ").split()
    if not words:
        return ""
    return "^".join([words[-1], " ".join(words[:-1])]).rstrip("^")[:64]


def _required(values: dict[str, Any], key: str) -> str:
    """A value the item cannot go without (a Type 1 return key of Table K.6-1)."""
    value = values[key]
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{key} is empty")
    return value


def _step(order: dict[str, Any], scheduled_at: datetime) -> Dataset:
    """The Scheduled Procedure Step Sequence item (PS3.3 C.4.10)."""
    step = Dataset()
    step.ScheduledStationAETitle = _required(order, "scheduled_station_ae_title")
    step.ScheduledProcedureStepStartDate = scheduled_at.strftime("%Y%m%d")
    step.ScheduledProcedureStepStartTime = scheduled_at.strftime("%H%M%S")
    step.Modality = MODALITY
    step.ScheduledPerformingPhysicianName = ""
    eyes = EYES.get(order.get("laterality", "both"), EYES["both"])
    step.ScheduledProcedureStepDescription = f"Fundus photography, {eyes}"
    step.ScheduledProtocolCodeSequence = Sequence([REQUESTED_PROCEDURE_DR_SCREENING.to_item()])
    step.ScheduledProcedureStepID = _required(order, "scheduled_procedure_step_id")
    step.ScheduledProcedureStepStatus = _STEP_STATUS.get(order.get("state", ""), "SCHEDULED")
    return step


def order_to_item(order: dict[str, Any]) -> Dataset:
    """The worklist item of one EMR order (as ``GET /api/v1/orders`` gives it).

    Raises:
        DicomInputError: the order lacks its patient or an identifier.
    """
    try:
        patient = order["patient"]
        scheduled_at = datetime.fromisoformat(order["scheduled_at"])
        referring = PersonName(person_name(order.get("ordering_user_name") or ""))
        item = Dataset()
        item.SpecificCharacterSet = CHARACTER_SET
        item.PatientName = PersonName(patient["patient_name"])
        item.PatientID = _required(patient, "patient_id")
        item.PatientBirthDate = (patient.get("birth_date") or "").replace("-", "")
        item.PatientSex = patient.get("sex") if patient.get("sex") in _SEXES else ""
        item.AccessionNumber = _required(order, "accession_number")
        item.ReferringPhysicianName = referring
        item.RequestingPhysician = referring
        item.RequestedProcedureID = _required(order, "requested_procedure_id")
        item.RequestedProcedureDescription = order.get("requested_procedure_description", "")
        item.RequestedProcedureCodeSequence = Sequence(
            [REQUESTED_PROCEDURE_DR_SCREENING.to_item()])
        priority = order.get("priority", "")
        item.RequestedProcedurePriority = priority if priority in _PRIORITIES else "ROUTINE"
        item.ReasonForTheRequestedProcedure = order.get("reason") or ""
        item.StudyInstanceUID = validate_uid(_required(order, "study_instance_uid"),
                                             "study_instance_uid")
        item.ReferencedStudySequence = Sequence()
        item.ReferencedPatientSequence = Sequence()
        item.ScheduledProcedureStepSequence = Sequence([_step(order, scheduled_at)])
    except (AttributeError, KeyError, TypeError, ValueError, DicomInputError) as exc:
        # The exception names a key or a format, never a value: no patient data.
        raise DicomInputError(f"order {order.get('id')} cannot be a worklist item: "
                              f"{type(exc).__name__} {exc}") from None
    return item


def worklist_items(orders: Iterable[dict[str, Any]]) -> list[Dataset]:
    """The worklist items of ``orders``, in their order; an unusable order is left
    out with a warning that names its id."""
    items = []
    for order in orders:
        try:
            items.append(order_to_item(order))
        except DicomInputError as exc:
            log.warning("order left off the worklist", order=order.get("id"), reason=str(exc))
    return items
