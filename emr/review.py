"""Ophthalmologists' sign-off: approve or correct each eye's AI finding.

A review is added beside the AI result and never replaces it; a later review of
the same eye (an amendment) is added too, and the latest one counts. The first
complete review of an order's current result moves it to *reviewed*. Each
signing is owed to the PACS as a verified report (:mod:`emr.signed_report`),
in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from emr.audit import Actor, record
from emr.exceptions import TransitionRefused, ValidationError
from emr.grading import DrGrade, Finding
from emr.models import AiResult, Decision, Order, Review, Role, User
from emr.orders import change_state
from emr.signed_report import record_signing
from emr.states import OrderState

__all__ = ["EyeReview", "review_result"]


@dataclass(frozen=True)
class EyeReview:
    """One eye's sign-off; ``grade`` ``None`` means ungradable (for a correction)."""

    laterality: str
    decision: str
    grade: int | None = None
    maculopathy: bool | None = None
    comment: str = ""


def _signed_finding(ai: Finding, review: EyeReview, errors: dict[str, str]) -> Finding:
    if review.decision == Decision.APPROVE:
        return ai
    if review.decision != Decision.CORRECT:
        errors[f"{review.laterality}.decision"] = "approve or correct"
        return ai
    # An ungradable eye has no assessable macula either.
    corrected = Finding.graded_by_ophthalmologist(
        None if review.grade is None else DrGrade(review.grade), review.maculopathy)
    if (corrected.grade, corrected.maculopathy) == (ai.grade, ai.maculopathy):
        errors[f"{review.laterality}.grade"] = ("the correction equals the AI finding; "
                                                "approve instead")
    if not review.comment.strip():
        errors[f"{review.laterality}.comment"] = "say why the finding is corrected"
    return corrected


def _check_reviewable(order: Order, result: AiResult, actor: Actor) -> User:
    """The ophthalmologist signing, once the result is found reviewable."""
    if actor.user is None or actor.user.role != Role.OPHTHALMOLOGIST:
        raise PermissionError("only ophthalmologists review AI results")
    if result is not order.current_result:
        raise ValidationError("only the order's current result can be reviewed")
    if order.state not in (OrderState.AI_DONE, OrderState.REVIEWED):
        raise TransitionRefused(f"the order is '{order.state.value}', not awaiting review")
    return actor.user


def review_result(db: Session, order: Order, result: AiResult,
                  reviews: Sequence[EyeReview], actor: Actor) -> list[Review]:
    """Record a sign-off of every eye of ``result``; return the new reviews.

    Raises:
        PermissionError: the actor is not an ophthalmologist.
        ValidationError: an eye is missing, or a correction is empty or unexplained.
        TransitionRefused: the order is not awaiting review.
    """
    signer = _check_reviewable(order, result, actor)
    by_eye = {r.laterality: r for r in reviews}
    if set(by_eye) != {e.laterality for e in result.eyes} or len(by_eye) != len(reviews):
        raise ValidationError("review every graded eye once", {"eyes": "one review per eye"})
    errors: dict[str, str] = {}
    signed = [(eye, by_eye[eye.laterality],
               _signed_finding(eye.finding, by_eye[eye.laterality], errors))
              for eye in result.eyes]
    if errors:
        raise ValidationError("the review is not complete", errors)
    added = []
    for eye, review, finding in signed:
        row = Review(eye_result=eye, reviewer=actor.user, decision=Decision(review.decision),
                     grade=None if finding.grade is None else int(finding.grade),
                     maculopathy=finding.maculopathy, comment=review.comment.strip())
        db.add(row)
        added.append(row)
    db.flush()
    archived = record_signing(db, order, result, added, signer)
    record(db, actor, "review.create", patient_id=order.patient_id, order_id=order.id,
           detail={"result": result.id, "sr_sop_instance_uid": archived.sop_instance_uid,
                   "decisions": {r.laterality: r.decision for r in reviews}})
    if order.state == OrderState.AI_DONE:
        change_state(db, order, OrderState.REVIEWED, actor)
    return added
