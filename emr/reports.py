"""Reports: what a screening found per eye and for the patient, what to do, and the trend.

The patient-level result is the worse eye (:func:`emr.grading.worse_eye`);
an ophthalmologist's correction, where there is one, replaces the AI's finding
in that result while the AI's own finding stays on the report beside it.
"""

from __future__ import annotations

from dataclasses import dataclass

from emr.decision import Recommendation, recommend
from emr.grading import Finding, worse_eye
from emr.models import AiResult, EyeResult, Order, Patient
from emr.trend import Trend, compare

__all__ = ["Report", "ScreeningHistoryRow", "build_report", "order_finding",
           "screening_history"]


def order_finding(order: Order) -> Finding | None:
    """The patient-level finding of an order's current result, ``None`` without one."""
    result = order.current_result
    if result is None or not result.eyes:
        return None
    return worse_eye(eye.effective_finding for eye in result.eyes)


def _previous_finding(order: Order) -> Finding | None:
    earlier = [o for o in order.patient.orders
               if o.id != order.id and o.current_result is not None
               and (o.scheduled_at, o.id) < (order.scheduled_at, order.id)]
    if not earlier:
        return None
    latest = max(earlier, key=lambda o: (o.scheduled_at, o.id))
    return order_finding(latest)


@dataclass(frozen=True)
class Report:
    """Everything the report page shows for one order."""

    order: Order
    result: AiResult | None
    eyes: tuple[EyeResult, ...]
    finding: Finding | None
    recommendation: Recommendation | None
    trend: Trend | None
    earlier_results: tuple[AiResult, ...]

    @property
    def reviewed(self) -> bool:
        """Whether every eye of the current result has been signed off."""
        return bool(self.eyes) and all(e.review is not None for e in self.eyes)


def build_report(order: Order) -> Report:
    """The report of ``order``; without a result only the order part is filled."""
    result = order.current_result
    finding = order_finding(order)
    if result is None or finding is None:
        return Report(order, None, (), None, None, None, ())
    return Report(
        order=order, result=result, eyes=tuple(result.eyes), finding=finding,
        recommendation=recommend(finding),
        trend=compare(finding, _previous_finding(order)),
        earlier_results=tuple(r for r in order.results if r.id != result.id))


@dataclass(frozen=True)
class ScreeningHistoryRow:
    """One screening of a patient, with its change from the one before."""

    order: Order
    finding: Finding | None
    recommendation: Recommendation | None
    trend: Trend | None


def screening_history(patient: Patient) -> list[ScreeningHistoryRow]:
    """The patient's orders, newest first, each with its finding and trend."""
    ordered = sorted(patient.orders, key=lambda o: (o.scheduled_at, o.id))
    rows = []
    previous: Finding | None = None
    for order in ordered:
        finding = order_finding(order)
        if finding is None:
            rows.append(ScreeningHistoryRow(order, None, None, None))
            continue
        rows.append(ScreeningHistoryRow(order, finding, recommend(finding),
                                        compare(finding, previous)))
        previous = finding
    return rows[::-1]
