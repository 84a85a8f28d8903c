"""AI results posted by the AI node: storage that is idempotent.

A model (name and version) grades an order once. Posting the same result
again returns the stored one; a different result under the same model version
is a conflict; a newer model version adds a result beside the earlier ones.
The order must be *AI running*; storing the result moves it to *AI done*.

The body is validated by :mod:`emr.result_input`; each eye is stored with the
AI node's referral decision as posted (never derived from the grade here),
and every photograph with its own finding and picture, and whether it is a
simulated capture.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from emr.audit import Actor, record
from emr.exceptions import Conflict, TransitionRefused, ValidationError
from emr.models import AiResult, EyeImage, EyeResult, Order
from emr.orders import change_state
from emr.result_input import Assessment, EyeInput, ImageInput, ResultInput, parse_result
from emr.states import OrderState

__all__ = ["EyeInput", "ResultInput", "parse_result", "store_result"]


def _matches_order(result: ResultInput, order: Order) -> None:
    ordered = set(order.laterality.eyes)
    posted = {e.laterality for e in result.eyes}
    if posted != ordered:
        raise ValidationError(
            f"the order covers {'/'.join(sorted(ordered))}, the result grades "
            f"{'/'.join(sorted(posted))}", {"eyes": "one entry per ordered eye"})


def store_result(db: Session, order: Order, result: ResultInput,
                 actor: Actor) -> tuple[AiResult, bool]:
    """Store ``result`` for ``order``; return it and whether it was new.

    Raises:
        ValidationError: the result grades other eyes than the order covers.
        Conflict: this model version already posted a different result.
        TransitionRefused: the order is not *AI running* (for a new result).
    """
    existing = db.scalar(select(AiResult).where(
        AiResult.order_id == order.id, AiResult.model_name == result.model_name,
        AiResult.model_version == result.model_version))
    if existing is not None:
        if existing.content_digest != result.digest:
            raise Conflict(f"model {result.model_name} {result.model_version} already posted "
                           "a different result for this order")
        return existing, False
    _matches_order(result, order)
    if order.state != OrderState.AI_RUNNING:
        raise TransitionRefused(f"a result is accepted while the order is 'ai_running'; "
                                f"it is '{order.state.value}'")
    stored = AiResult(
        order=order, model_name=result.model_name, model_version=result.model_version,
        sr_sop_instance_uid=result.sr_sop_instance_uid,
        sc_sop_instance_uid=result.sc_sop_instance_uid, content_digest=result.digest,
        performed_at=result.performed_at, service=actor.service or "",
        eyes=[_eye_row(eye) for eye in result.eyes])
    db.add(stored)
    db.flush()
    record(db, actor, "result.create", patient_id=order.patient_id, order_id=order.id,
           detail={"model": result.model_name, "version": result.model_version})
    change_state(db, order, OrderState.AI_DONE, actor)
    return stored, True


def _assessment_columns(assessment: Assessment) -> dict[str, object]:
    """The columns an eye and a photograph share."""
    return {
        "grade": assessment.grade,
        "probabilities": (None if assessment.probabilities is None
                          else list(assessment.probabilities)),
        "referable": assessment.referable,
        "referable_probability": assessment.referable_probability,
        "borderline": assessment.borderline,
        "dme_probability": assessment.dme_probability,
        "maculopathy": assessment.maculopathy,
        "image_quality": assessment.image_quality,
        "quality_scores": assessment.quality_scores,
    }


def _image_row(image: ImageInput) -> EyeImage:
    return EyeImage(
        sop_instance_uid=image.sop_instance_uid, decisive=image.decisive,
        **_assessment_columns(image.assessment),
        quality_reasons=list(image.assessment.quality_reasons),
        laterality_doubt=image.laterality_doubt, simulated=image.simulated,
        sc_sop_instance_uid=image.sc_sop_instance_uid,
        picture=image.picture, picture_media_type="image/png" if image.picture else "")


def _eye_heatmap(eye: EyeInput) -> bytes | None:
    """The eye's heat map: as posted, else its deciding photograph's (gradable only)."""
    if eye.heatmap is not None or eye.grade is None:
        return eye.heatmap
    return next((image.picture for image in eye.images if image.decisive), None)


def _eye_row(eye: EyeInput) -> EyeResult:
    heatmap = _eye_heatmap(eye)
    return EyeResult(
        laterality=eye.laterality, **_assessment_columns(eye.assessment),
        quality_reasons=list(eye.assessment.quality_reasons),
        referral_threshold=eye.referral_threshold, borderline_margin=eye.borderline_margin,
        quality_score=eye.quality_score,
        source_sop_instance_uids=list(eye.source_sop_instance_uids),
        decisive_sop_instance_uid=eye.decisive_sop_instance_uid,
        sc_sop_instance_uid=eye.sc_sop_instance_uid,
        heatmap=heatmap, heatmap_media_type="image/png" if heatmap else "",
        images=[_image_row(image) for image in eye.images])
