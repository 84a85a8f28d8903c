"""AI results posted by the AI node: validation, and storage that is idempotent.

A model (name and version) grades an order once. Posting the same result
again returns the stored one; a different result under the same model version
is a conflict; a newer model version adds a result beside the earlier ones.
The order must be *AI running*; storing the result moves it to *AI done*.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from PIL import Image, UnidentifiedImageError
from sqlalchemy import select
from sqlalchemy.orm import Session

from emr.audit import Actor, record
from emr.exceptions import Conflict, TransitionRefused, ValidationError
from emr.grading import DrGrade, Finding, ImageQuality
from emr.models import AiResult, EyeResult, Order
from emr.orders import change_state
from emr.states import OrderState
from imaging_common.exceptions import DicomInputError
from imaging_common.uids import validate_uid

__all__ = ["EyeInput", "ResultInput", "parse_result", "store_result"]

_GRADES = len(DrGrade)
_PROBABILITY_TOLERANCE = 0.01


@dataclass(frozen=True)
class EyeInput:
    """One eye of a posted result, validated."""

    laterality: str
    grade: int | None
    probabilities: tuple[float, ...]
    referable: bool
    maculopathy: bool | None
    image_quality: ImageQuality
    quality_score: float | None
    source_sop_instance_uids: tuple[str, ...]
    heatmap: bytes | None = field(default=None, repr=False)
    sc_sop_instance_uid: str | None = None


@dataclass(frozen=True)
class ResultInput:
    """A posted result, validated; ``digest`` identifies its content."""

    model_name: str
    model_version: str
    performed_at: datetime
    sr_sop_instance_uid: str
    sc_sop_instance_uid: str
    eyes: tuple[EyeInput, ...]
    digest: str


class _Errors(dict[str, str]):
    def check(self, ok: bool, key: str, message: str) -> bool:
        if not ok:
            self.setdefault(key, message)
        return ok


def _text(body: Mapping[str, Any], key: str, limit: int, errors: _Errors) -> str:
    value = body.get(key)
    errors.check(isinstance(value, str) and 0 < len(value.strip()) <= limit
                 and value.isprintable(), key, f"a string of 1 to {limit} printable characters")
    return value.strip() if isinstance(value, str) else ""


def _uid(value: Any, key: str, errors: _Errors) -> str:
    try:
        return validate_uid(value, key) if isinstance(value, str) else validate_uid("", key)
    except DicomInputError:
        errors.check(False, key, "a DICOM UID (digits and dots, at most 64 characters)")
        return ""


def _timestamp(value: Any, errors: _Errors) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if errors.check(moment is not None and moment.tzinfo is not None, "performed_at",
                    "an ISO 8601 date and time with a UTC offset"):
        return moment
    return None


def _heatmap(value: Any, where: str, limit: int, errors: _Errors) -> bytes | None:
    if value is None:
        return None
    try:
        data = base64.b64decode(value, validate=True) if isinstance(value, str) else b""
        if len(data) > limit:
            errors.check(False, where, f"the heat map is larger than {limit} bytes")
            return None
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
            if image.format == "PNG":
                return data
    except (binascii.Error, UnidentifiedImageError, OSError, SyntaxError):
        pass
    errors.check(False, where, "a base64-encoded PNG image")
    return None


def _probabilities(value: Any, where: str, errors: _Errors) -> tuple[float, ...]:
    ok = (isinstance(value, list) and len(value) == _GRADES
          and all(isinstance(p, (int, float)) and not isinstance(p, bool) and 0 <= p <= 1
                  for p in value))
    if not errors.check(ok, where, f"{_GRADES} numbers between 0 and 1, one per ICDR grade"):
        return ()
    errors.check(abs(sum(value) - 1) <= _PROBABILITY_TOLERANCE, where,
                 "the probabilities must add up to 1")
    return tuple(float(p) for p in value)


def _eye(item: Any, index: int, heatmap_limit: int, errors: _Errors) -> EyeInput | None:
    at = f"eyes[{index}]"
    if not errors.check(isinstance(item, dict), at, "an object"):
        return None
    laterality = item.get("laterality")
    errors.check(laterality in ("R", "L"), f"{at}.laterality", "R or L (Image Laterality)")
    grade = item.get("grade")
    errors.check(grade is None or (isinstance(grade, int) and not isinstance(grade, bool)
                                   and 0 <= grade < _GRADES),
                 f"{at}.grade", "an ICDR grade 0-4, or null when ungradable")
    quality = item.get("image_quality")
    errors.check(quality in {q.value for q in ImageQuality}, f"{at}.image_quality",
                 "good, adequate or ungradable")
    errors.check((grade is None) == (quality == ImageQuality.UNGRADABLE), f"{at}.grade",
                 "grade is null exactly when image_quality is ungradable")
    maculopathy = item.get("maculopathy")
    errors.check(maculopathy is None or isinstance(maculopathy, bool), f"{at}.maculopathy",
                 "true, false or null when not assessed")
    score = item.get("quality_score")
    errors.check(score is None or (isinstance(score, (int, float)) and 0 <= score <= 1),
                 f"{at}.quality_score", "a number between 0 and 1, or null")
    sources = item.get("source_sop_instance_uids")
    errors.check(isinstance(sources, list) and len(sources) > 0, f"{at}.source_sop_instance_uids",
                 "the SOP Instance UIDs of the graded images")
    uids = tuple(_uid(u, f"{at}.source_sop_instance_uids", errors)
                 for u in (sources if isinstance(sources, list) else []))
    probabilities = _probabilities(item.get("probabilities"), f"{at}.probabilities", errors)
    heatmap = _heatmap(item.get("heatmap_png"), f"{at}.heatmap_png", heatmap_limit, errors)
    given_sc = item.get("sc_sop_instance_uid")
    sc_uid = None if given_sc is None else _uid(given_sc, f"{at}.sc_sop_instance_uid", errors)
    if errors:
        return None
    derived = Finding(None if grade is None else DrGrade(grade), maculopathy).referable
    referable = item.get("referable", derived)
    errors.check(referable == derived, f"{at}.referable",
                 "referable DR is moderate NPDR or worse, or maculopathy")
    return EyeInput(laterality, grade, probabilities, derived, maculopathy,
                    ImageQuality(quality), None if score is None else float(score), uids,
                    heatmap, sc_uid)


def _digest(body: Mapping[str, Any]) -> str:
    """SHA-256 of the whole canonical body: every field, each eye's own included."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


def parse_result(body: Any, heatmap_limit: int) -> ResultInput:
    """Validate a posted result; raise :class:`ValidationError` naming each bad field."""
    if not isinstance(body, dict):
        raise ValidationError("the result must be a JSON object")
    errors = _Errors()
    given = body.get("model")
    model: Mapping[str, Any] = given if isinstance(given, dict) else {}
    name = _text(model, "name", 64, errors)
    version = _text(model, "version", 32, errors)
    performed_at = _timestamp(body.get("performed_at"), errors)
    sr_uid = _uid(body.get("sr_sop_instance_uid"), "sr_sop_instance_uid", errors)
    sc_uid = _uid(body.get("sc_sop_instance_uid"), "sc_sop_instance_uid", errors)
    raw_eyes = body.get("eyes")
    errors.check(isinstance(raw_eyes, list) and 0 < len(raw_eyes) <= 2, "eyes",
                 "a list of one or two eyes")
    eyes = [_eye(item, i, heatmap_limit, errors) for i, item in enumerate(raw_eyes or [])]
    lateralities = [e.laterality for e in eyes if e is not None]
    errors.check(len(set(lateralities)) == len(lateralities), "eyes", "one entry per eye")
    captures = [e.sc_sop_instance_uid for e in eyes if e is not None and e.sc_sop_instance_uid]
    errors.check(len(set(captures)) == len(captures), "eyes",
                 "each eye's sc_sop_instance_uid names its own Secondary Capture")
    if errors or performed_at is None:
        raise ValidationError("the result is not valid", errors)
    return ResultInput(name, version, performed_at, sr_uid, sc_uid,
                       tuple(e for e in eyes if e is not None), _digest(body))


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


def _eye_row(eye: EyeInput) -> EyeResult:
    return EyeResult(
        laterality=eye.laterality, grade=eye.grade, probabilities=list(eye.probabilities),
        referable=eye.referable, maculopathy=eye.maculopathy, image_quality=eye.image_quality,
        quality_score=eye.quality_score,
        source_sop_instance_uids=list(eye.source_sop_instance_uids),
        sc_sop_instance_uid=eye.sc_sop_instance_uid,
        heatmap=eye.heatmap, heatmap_media_type="image/png" if eye.heatmap else "")
