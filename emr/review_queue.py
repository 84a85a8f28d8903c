"""The ophthalmologists' review queue: AI results awaiting sign-off, most urgent first.

Urgency is read from the AI's own patient-level finding (the worse eye,
:func:`emr.grading.worse_eye`), since nobody has reviewed these results yet:

1. referable patients first (the AI node's referral decision);
2. then patients with an ungradable eye and none referable (re-image within
   a month, :data:`emr.decision.UNGRADABLE`);
3. then by worse-eye grade, highest first, maculopathy before none;
4. then the result that has waited longest.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from emr.decision import Recommendation, recommend
from emr.grading import PatientFinding, worse_eye
from emr.models import AiResult, Order
from emr.orders import OrderFilter, list_orders
from emr.states import OrderState

__all__ = ["QUEUE_LIMIT", "QueueItem", "review_queue", "urgency"]

#: The most results the queue reads at once.
QUEUE_LIMIT = 500


@dataclass(frozen=True)
class QueueItem:
    """One order awaiting review, with the AI's patient-level finding."""

    order: Order
    result: AiResult
    finding: PatientFinding
    recommendation: Recommendation


def urgency(finding: PatientFinding, received_at: datetime) -> tuple[int, int, int, datetime]:
    """The sort key of a queue item: smaller is more urgent (see the module docstring)."""
    group = 0 if finding.referable else (1 if finding.grade is None else 2)
    grade = -1 if finding.grade is None else int(finding.grade)
    return (group, -grade, 0 if finding.maculopathy else 1, received_at)


def _item(order: Order) -> QueueItem | None:
    result = order.current_result
    if result is None or not result.eyes:
        return None
    finding = worse_eye({eye.laterality: eye.finding for eye in result.eyes})
    return QueueItem(order, result, finding, recommend(finding))


def review_queue(db: Session, where: OrderFilter) -> list[QueueItem]:
    """Orders whose AI result awaits review, narrowed by ``where``, most urgent first.

    ``where.states`` is ignored: the queue holds the orders *AI done* only.
    """
    where = OrderFilter(states=(OrderState.AI_DONE,), scheduled_from=where.scheduled_from,
                        scheduled_to=where.scheduled_to, station_ae=where.station_ae,
                        zone=where.zone)
    items = [item for order in list_orders(db, where, limit=QUEUE_LIMIT)
             if (item := _item(order)) is not None]
    return sorted(items, key=lambda i: (urgency(i.finding, i.result.received_at), i.order.id))
