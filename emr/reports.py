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
from emr.models import AiResult, EyeImage, EyeResult, Order, Patient
from emr.trend import Trend, compare

__all__ = ["Photograph", "Report", "ScreeningHistoryRow", "build_report", "eye_photographs",
           "maculopathy_words", "margin_words", "order_finding", "order_photograph_uids",
           "quality_words", "screening_history"]

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


def _earlier_screenings(order: Order) -> tuple[Order, ...]:
    """The patient's orders before ``order`` that have a result, the latest first."""
    earlier = [o for o in order.patient.orders
               if o.id != order.id and o.current_result is not None
               and (o.scheduled_at, o.id) < (order.scheduled_at, order.id)]
    return tuple(sorted(earlier, key=lambda o: (o.scheduled_at, o.id), reverse=True))


def _previous_finding(order: Order) -> PatientFinding | None:
    earlier = _earlier_screenings(order)
    return order_finding(earlier[0]) if earlier else None


@dataclass(frozen=True)
class Photograph:
    """One photograph of an eye as the report shows it, fetched from the PACS.

    ``image`` is the AI node's own decision on this photograph (its grade,
    quality and heat-map picture); ``None`` on results posted before the node
    graded each photograph, which name the eye's source images only.
    """

    order: Order
    eye: EyeResult
    sop_instance_uid: str
    image: EyeImage | None

    @property
    def decisive(self) -> bool:
        """Whether this photograph gives the eye its finding."""
        if self.image is not None:
            return self.image.decisive
        return self.sop_instance_uid == self.eye.decisive_sop_instance_uid

    @property
    def has_heatmap(self) -> bool:
        """Whether the AI node's picture of it is the heat map over the photograph
        (a gradable photograph); an ungradable one's picture is the photograph itself."""
        return (self.image is not None and self.image.grade is not None
                and bool(self.image.picture_media_type))


def eye_photographs(eye: EyeResult) -> tuple[Photograph, ...]:
    """Every photograph of an eye, the deciding one first."""
    order = eye.result.order
    if eye.images:
        images = sorted(eye.images, key=lambda image: not image.decisive)
        return tuple(Photograph(order, eye, image.sop_instance_uid, image) for image in images)
    photographs = [Photograph(order, eye, uid, None) for uid in eye.source_sop_instance_uids]
    return tuple(sorted(photographs, key=lambda photograph: not photograph.decisive))


def order_photograph_uids(order: Order) -> frozenset[str]:
    """The SOP Instance UIDs of every photograph any result of ``order`` graded."""
    return frozenset(uid for result in order.results for eye in result.eyes
                     for uid in (*eye.source_sop_instance_uids,
                                 *(image.sop_instance_uid for image in eye.images)))


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
    #: The patient's earlier orders with a result, the latest first.
    earlier_screenings: tuple[Order, ...] = ()

    @property
    def borderline_margin(self) -> float | None:
        """The AI node's borderline margin, as its eyes state it."""
        return next((e.borderline_margin for e in self.eyes
                     if e.borderline_margin is not None), None)

    @property
    def reviewed(self) -> bool:
        """Whether every eye of the current result has been signed off."""
        return bool(self.eyes) and all(e.review is not None for e in self.eyes)

    def previous_eye(self, laterality: str) -> EyeResult | None:
        """The same eye at the patient's latest earlier screening that graded it."""
        for order in self.earlier_screenings:
            result = order.current_result
            eye = result.eye(laterality) if result is not None else None
            if eye is not None:
                return eye
        return None


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
        earlier_results=tuple(r for r in order.results if r.id != result.id),
        earlier_screenings=_earlier_screenings(order))


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
