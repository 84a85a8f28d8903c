"""How orders, transitions and results look in the REST API's JSON.

Times are ISO 8601 with their UTC offset, in the site's time zone; patient
demographics are included only for callers with the ``patients:read`` scope.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any

from emr.models import AiResult, Order, OrderTransition, Patient
from emr.orders import PROCEDURE_DESCRIPTION

__all__ = ["order_json", "patient_json", "result_json", "transition_json"]


def _time(moment: datetime | None, zone: tzinfo | None = None) -> str | None:
    if moment is None:
        return None
    return (moment.astimezone(zone) if zone else moment).isoformat()


def patient_json(patient: Patient) -> dict[str, Any]:
    """The Patient module as a worklist needs it (PS3.3 C.7.1.1)."""
    return {
        "patient_id": patient.mrn,
        "patient_name": patient.dicom_name,
        "birth_date": patient.birth_date.isoformat(),
        "sex": patient.sex.value,
    }


def transition_json(transition: OrderTransition) -> dict[str, Any]:
    """One recorded change of state."""
    by = ({"service": transition.service} if transition.service
          else {"user": transition.user.username if transition.user else None})
    return {
        "from": transition.from_state.value if transition.from_state else None,
        "to": transition.to_state.value,
        "at": _time(transition.at),
        "by": by,
        "reason": transition.reason,
    }


def order_json(order: Order, with_patient: bool, zone: tzinfo,
               detail: bool = False) -> dict[str, Any]:
    """An order; ``detail`` adds its transitions and results."""
    body: dict[str, Any] = {
        "id": order.id,
        "accession_number": order.accession_number,
        "requested_procedure_id": order.requested_procedure_id,
        "scheduled_procedure_step_id": order.scheduled_procedure_step_id,
        "study_instance_uid": order.study_instance_uid,
        "requested_procedure_description": PROCEDURE_DESCRIPTION,
        "state": order.state.value,
        "state_reason": order.state_reason,
        "laterality": order.laterality.value,
        "image_laterality": list(order.laterality.eyes),
        "priority": order.priority.value,
        "reason": order.reason,
        "ordering_user_name": order.ordering_user.full_name,
        "scheduled_station_ae_title": order.scheduled_station_ae,
        "scheduled_at": _time(order.scheduled_at, zone),
        "created_at": _time(order.created_at, zone),
        "updated_at": _time(order.updated_at, zone),
    }
    if with_patient:
        body["patient"] = patient_json(order.patient)
    if detail:
        body["transitions"] = [transition_json(t) for t in order.transitions]
        body["results"] = [result_json(r, zone) for r in order.results]
    return body


def result_json(result: AiResult, zone: tzinfo) -> dict[str, Any]:
    """One AI result with its eyes (heat maps are served on the report pages)."""
    return {
        "id": result.id,
        "order_id": result.order_id,
        "model": {"name": result.model_name, "version": result.model_version},
        "performed_at": _time(result.performed_at, zone),
        "received_at": _time(result.received_at, zone),
        "sr_sop_instance_uid": result.sr_sop_instance_uid,
        "sc_sop_instance_uid": result.sc_sop_instance_uid,
        "service": result.service,
        "eyes": [eye.as_json() for eye in result.eyes],
    }
