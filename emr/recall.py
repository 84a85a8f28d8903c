"""Recall: who is due or overdue for re-screening, and which referrals await acknowledgement.

Each patient's latest screening with a result sets the date. Its finding is
the patient-level one the report shows (:func:`emr.reports.order_finding`):
per eye, an ophthalmologist's signed review over the AI's finding. The
recommendation (:func:`emr.decision.recommend`) gives the interval, counted
from when the finding was made: the last signed review of the result, or the
result's arrival where nobody reviewed it.

- A recommendation that refers puts the patient on the referral list until a
  nurse acknowledges that result's referral (:func:`acknowledge_referral`).
- Otherwise the interval (shortest, longest months) gives ``due_from`` and
  ``due_by``: the patient is *due* from :data:`DUE_NOTICE` before ``due_from``
  until ``due_by``, and *overdue* after it.
- A patient with a later order still open (scheduled, in progress, with the AI)
  is booked already, and is on neither re-screening list.
"""

from __future__ import annotations

import calendar
import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from emr.audit import Actor, record
from emr.decision import Recommendation, recommend
from emr.exceptions import Conflict, NotFound
from emr.grading import PatientFinding
from emr.models import (AiResult, EyeResult, Order, Patient, ReferralAcknowledgement,
                        utcnow)
from emr.reports import order_finding
from emr.states import ACTIVE_STATES, OrderState
from imaging_common.web.spreadsheet import spreadsheet_row

__all__ = ["DUE_NOTICE", "RecallEntry", "RecallLists", "RecallStatus", "acknowledge_referral",
           "RECALL_COLUMNS", "add_months", "recall_csv", "recall_entry", "recall_lists"]

#: How long before a re-screening falls due the patient appears on the due list.
DUE_NOTICE = timedelta(days=30)


class RecallStatus(StrEnum):
    """Where a patient stands after the latest screening."""

    REFERRAL = "referral"  # referred, not yet acknowledged
    ACKNOWLEDGED = "acknowledged"  # referred, acknowledged by a nurse
    OVERDUE = "overdue"
    DUE = "due"
    BOOKED = "booked"  # a later order is open
    NOT_YET = "not_yet"


@dataclass(frozen=True)
class RecallEntry:
    """A patient's latest screening, its recommendation and what it asks for now."""

    patient: Patient
    order: Order
    result: AiResult
    finding: PatientFinding
    recommendation: Recommendation
    decided_at: datetime
    reviewed: bool
    due_from: date
    due_by: date
    status: RecallStatus
    acknowledgement: ReferralAcknowledgement | None


@dataclass(frozen=True)
class RecallLists:
    """The nurse's working lists, each most pressing first."""

    overdue: list[RecallEntry]
    due: list[RecallEntry]
    referrals: list[RecallEntry]

    @property
    def counts(self) -> dict[str, int]:
        """How many patients each list holds."""
        return {"overdue": len(self.overdue), "due": len(self.due),
                "referrals": len(self.referrals)}


def add_months(day: date, months: int) -> date:
    """``day`` moved by whole months, to the month's last day where it has fewer days."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _latest_screening(patient: Patient) -> tuple[Order, AiResult, PatientFinding] | None:
    screened = [(o, o.current_result, finding) for o in patient.orders
                if o.current_result is not None and (finding := order_finding(o)) is not None]
    return max(screened, key=lambda s: (s[0].scheduled_at, s[0].id), default=None)


def _decided(result: AiResult) -> tuple[datetime, bool]:
    reviews = [eye.review for eye in result.eyes if eye.review is not None]
    if reviews:
        return max(r.created_at for r in reviews), True
    return result.received_at, False


def _booked(patient: Patient, screening: Order) -> bool:
    return any(o.state in ACTIVE_STATES and o.state is not OrderState.AI_DONE
               and (o.scheduled_at, o.id) > (screening.scheduled_at, screening.id)
               for o in patient.orders)


def _status(recommendation: Recommendation, acknowledged: bool, booked: bool,
            due_from: date, due_by: date, today: date) -> RecallStatus:
    if recommendation.refer:
        return RecallStatus.ACKNOWLEDGED if acknowledged else RecallStatus.REFERRAL
    if booked:
        return RecallStatus.BOOKED
    if today > due_by:
        return RecallStatus.OVERDUE
    return RecallStatus.DUE if today >= due_from - DUE_NOTICE else RecallStatus.NOT_YET


def recall_entry(db: Session, patient: Patient, today: date, zone: tzinfo) -> RecallEntry | None:
    """Where ``patient`` stands on ``today`` (a site date); ``None`` if never screened."""
    latest = _latest_screening(patient)
    if latest is None:
        return None
    acknowledgement = db.scalar(select(ReferralAcknowledgement)
                                .where(ReferralAcknowledgement.result_id == latest[1].id))
    return _entry(patient, latest, acknowledgement, today, zone)


def _entry(patient: Patient, latest: tuple[Order, AiResult, PatientFinding],
           acknowledgement: ReferralAcknowledgement | None, today: date,
           zone: tzinfo) -> RecallEntry:
    order, result, finding = latest
    recommendation = recommend(finding)
    decided_at, reviewed = _decided(result)
    decided_on = decided_at.astimezone(zone).date()
    shortest, longest = recommendation.interval_months
    due_from, due_by = add_months(decided_on, shortest), add_months(decided_on, longest)
    status = _status(recommendation, acknowledgement is not None, _booked(patient, order),
                     due_from, due_by, today)
    return RecallEntry(patient, order, result, finding, recommendation, decided_at, reviewed,
                       due_from, due_by, status, acknowledgement)


def _screened_patients(db: Session, station: str) -> Iterator[Patient]:
    screened = select(Order.patient_id).join(AiResult, AiResult.order_id == Order.id)
    if station:
        screened = screened.where(Order.scheduled_station_ae == station)
    # Everything the finding needs, in a few queries rather than a few per patient.
    query = (select(Patient).where(Patient.id.in_(screened)).order_by(Patient.id)
             .options(selectinload(Patient.orders).selectinload(Order.results)
                      .selectinload(AiResult.eyes).selectinload(EyeResult.reviews)))
    yield from db.scalars(query)


def recall_lists(db: Session, today: date, zone: tzinfo, station: str = "") -> RecallLists:
    """The overdue, due and unacknowledged-referral lists on ``today`` (a site date).

    ``station`` keeps the patients ever screened at that station.
    """
    acknowledgements = {a.result_id: a for a in db.scalars(select(ReferralAcknowledgement))}
    entries = [_entry(patient, latest, acknowledgements.get(latest[1].id), today, zone)
               for patient in _screened_patients(db, station)
               if (latest := _latest_screening(patient)) is not None]
    return RecallLists(
        overdue=_by_date(e for e in entries if e.status is RecallStatus.OVERDUE),
        due=_by_date(e for e in entries if e.status is RecallStatus.DUE),
        referrals=sorted((e for e in entries if e.status is RecallStatus.REFERRAL),
                         key=lambda e: (not e.recommendation.urgent, e.decided_at)))


def _by_date(entries: Iterable[RecallEntry]) -> list[RecallEntry]:
    return sorted(entries, key=lambda e: (e.due_by, e.due_from, e.patient.id))


def acknowledge_referral(db: Session, order: Order, actor: Actor,
                         note: str = "") -> ReferralAcknowledgement:
    """Record that the referral of ``order``'s current result has been acted on.

    Raises:
        NotFound: the order has no result, or its result does not refer.
        Conflict: this result's referral was acknowledged already.
    """
    finding = order_finding(order)
    result = order.current_result
    if result is None or finding is None or not recommend(finding).refer:
        raise NotFound("this order's result makes no referral")
    if actor.user is None:
        raise ValueError("referrals are acknowledged by a person")
    if db.scalar(select(ReferralAcknowledgement.id)
                 .where(ReferralAcknowledgement.result_id == result.id)) is not None:
        raise Conflict("this referral was acknowledged already")
    acknowledgement = ReferralAcknowledgement(result=result, user=actor.user, at=utcnow(),
                                              note=note.strip())
    db.add(acknowledgement)
    db.flush()
    record(db, actor, "referral.acknowledge", patient_id=order.patient_id, order_id=order.id,
           detail={"result": result.id})
    return acknowledgement


RECALL_COLUMNS = ("list", "mrn", "family_name", "given_name", "birth_date", "accession_number",
                  "station", "screened_on", "finding", "reviewed", "recommendation",
                  "due_from", "due_by")


def _csv_row(name: str, entry: RecallEntry, zone: tzinfo) -> dict[str, str]:
    patient = entry.patient
    values = {"list": name, "mrn": patient.mrn, "family_name": patient.family_name,
              "given_name": patient.given_name, "birth_date": patient.birth_date.isoformat(),
              "accession_number": entry.order.accession_number,
              "station": entry.order.scheduled_station_ae,
              "screened_on": entry.decided_at.astimezone(zone).date().isoformat(),
              "finding": entry.finding.label, "reviewed": "yes" if entry.reviewed else "no",
              "recommendation": entry.recommendation.action,
              "due_from": entry.due_from.isoformat(), "due_by": entry.due_by.isoformat()}
    return spreadsheet_row(values)


def recall_csv(lists: RecallLists, zone: tzinfo) -> str:
    """The three lists as one CSV text (RFC 4180), header first, cells spreadsheet-safe."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=RECALL_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for name, entries in (("overdue", lists.overdue), ("due", lists.due),
                          ("referral", lists.referrals)):
        writer.writerows(_csv_row(name, entry, zone) for entry in entries)
    return buffer.getvalue()
