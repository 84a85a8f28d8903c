"""Reports: what a screening found per eye and for the patient, what to do, and the trend.

The patient-level result is the worse eye (:func:`emr.grading.worse_eye`) of
the eyes' findings, each with the referral decision the AI node made; an
ophthalmologist's correction, where there is one, replaces the AI's finding
in that result while the AI's own finding stays on the report beside it. The
recommendation comes from :func:`emr.decision.recommend` alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from emr.decision import Recommendation, recommend
from emr.grading import PatientFinding, worse_eye
from emr.models import AiResult, EyeResult, Order, Patient
from emr.trend import Trend, compare

__all__ = ["Report", "ScreeningHistoryRow", "build_report", "maculopathy_words",
           "margin_words", "order_finding", "quality_words", "screening_history"]

#: How each quality score (the AI node's QualityReport) reads on the report.
_SCORE_WORDS = (("field", "field {:.2f}"), ("brightness", "brightness {:.0f}"),
                ("overexposed", "over-exposed {:.1%}"), ("underexposed", "under-exposed {:.1%}"),
                ("focus", "focus {:.1f}"))


def order_finding(order: Order) -> PatientFinding | None:
    """The patient-level finding of an order's current result, ``None`` without one."""
    result = order.current_result
    if result is None or not result.eyes:
        return None
    return worse_eye({eye.laterality: eye.effective_finding for eye in result.eyes})


def _previous_finding(order: Order) -> PatientFinding | None:
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
    finding: PatientFinding | None
    recommendation: Recommendation | None
    trend: Trend | None
    earlier_results: tuple[AiResult, ...]

    @property
    def borderline_margin(self) -> float | None:
        """The AI node's borderline margin, as its eyes state it."""
        return next((e.borderline_margin for e in self.eyes
                     if e.borderline_margin is not None), None)

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
    finding: PatientFinding | None
    recommendation: Recommendation | None
    trend: Trend | None


def screening_history(patient: Patient) -> list[ScreeningHistoryRow]:
    """The patient's orders, newest first, each with its finding and trend."""
    ordered = sorted(patient.orders, key=lambda o: (o.scheduled_at, o.id))
    rows = []
    previous: PatientFinding | None = None
    for order in ordered:
        finding = order_finding(order)
        if finding is None:
            rows.append(ScreeningHistoryRow(order, None, None, None))
            continue
        rows.append(ScreeningHistoryRow(order, finding, recommend(finding),
                                        compare(finding, previous)))
        previous = finding
    return rows[::-1]


def margin_words(margin: float | None) -> str:
    """The borderline margin as the report states it: "±0.05"."""
    return "the AI node's margin" if margin is None else f"±{margin:.2f}"


def maculopathy_words(eye: EyeResult) -> str:
    """Macular oedema of a graded eye: present or absent with its probability, or not
    assessed (a model without an oedema output), which is never "absent"."""
    if eye.maculopathy is None:
        return "not assessed by this model (not known to be absent)"
    found = "present" if eye.maculopathy else "absent"
    if eye.dme_probability is None:
        return found
    return f"{found} (probability {eye.dme_probability:.2f})"


def quality_words(scores: dict[str, float]) -> str:
    """The quality scores in words: "field 0.78 · brightness 110 · ..."."""
    return " · ".join(text.format(scores[name]) for name, text in _SCORE_WORDS
                      if name in scores)
