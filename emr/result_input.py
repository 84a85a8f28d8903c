"""What an AI result posted by the AI node must hold, validated field by field.

An eye carries the AI node's finding as the node made it: the grade, the
referral decision (``referable``, taken as given, never derived from the
grade here), the referable probability and the model's registered threshold
it was compared with, whether it was borderline, the macular-oedema
probability and finding (both null: not assessed), the quality scores and the
reasons an ungradable eye must be re-imaged. An ungradable eye has no
probabilities and an unknown (null) referral. ``images`` lists every
photograph graded, each with its own finding and picture (the heat map over a
gradable photograph, the photograph itself for an ungradable one); the one
named ``decisive`` gives the eye its finding. A photograph that is a
simulated capture (a synthetic picture of the station's demo mode, marked in
DICOM) says ``simulated: true``; absent, it is false.

:func:`parse_result` raises :class:`~emr.exceptions.ValidationError` naming
each bad field (``eyes[0].images[1].grade``) and changes nothing.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from PIL import Image, UnidentifiedImageError

from emr.exceptions import ValidationError
from emr.grading import DrGrade, ImageQuality
from imaging_common.exceptions import DicomInputError
from imaging_common.uids import validate_uid

__all__ = ["Assessment", "EyeInput", "ImageInput", "QUALITY_SCORES", "ResultInput",
           "parse_result"]

_GRADES = len(DrGrade)
_PROBABILITY_TOLERANCE = 0.01
#: The quality scores an eye or photograph may carry (the AI node's QualityReport).
QUALITY_SCORES = ("field", "brightness", "overexposed", "underexposed", "focus")
#: The most photographs of one eye a result may list (a screening takes one or
#: two): with the AI node's pictures at 512 px, some 0.3 MB each in base64, a
#: result stays within the EMR's body limit (emr.app).
MAX_IMAGES = 6
#: The longest quality reason and laterality doubt, in characters.
REASON_LIMIT, DOUBT_LIMIT = 64, 1024


@dataclass(frozen=True)
class Assessment:
    """What the AI node made of an eye or a photograph: null-free only when gradable."""

    grade: int | None
    probabilities: tuple[float, ...] | None
    referable: bool | None
    referable_probability: float | None
    borderline: bool | None
    dme_probability: float | None
    maculopathy: bool | None
    image_quality: ImageQuality
    quality_scores: dict[str, float] | None
    quality_reasons: tuple[str, ...]


@dataclass(frozen=True)
class ImageInput:
    """One photograph of an eye, validated."""

    sop_instance_uid: str
    decisive: bool
    assessment: Assessment
    laterality_doubt: str
    sc_sop_instance_uid: str | None
    picture: bytes | None = field(default=None, repr=False)
    simulated: bool = False


@dataclass(frozen=True)
class EyeInput:
    """One eye of a posted result, validated."""

    laterality: str
    assessment: Assessment
    referral_threshold: float | None
    borderline_margin: float | None
    quality_score: float | None
    source_sop_instance_uids: tuple[str, ...]
    decisive_sop_instance_uid: str | None
    images: tuple[ImageInput, ...]
    heatmap: bytes | None = field(default=None, repr=False)
    sc_sop_instance_uid: str | None = None

    @property
    def grade(self) -> int | None:
        return self.assessment.grade

    @property
    def referable(self) -> bool | None:
        return self.assessment.referable


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


def _optional_uid(value: Any, key: str, errors: _Errors) -> str | None:
    return None if value is None else _uid(value, key, errors)


def _timestamp(value: Any, errors: _Errors) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if errors.check(moment is not None and moment.tzinfo is not None, "performed_at",
                    "an ISO 8601 date and time with a UTC offset"):
        return moment
    return None


def _is_number(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def _fraction(value: Any, where: str, errors: _Errors, required: bool) -> float | None:
    """A number from 0 to 1; null only where not ``required``."""
    if value is None and not required:
        return None
    ok = _is_number(value) and 0 <= value <= 1
    errors.check(ok, where, "a number between 0 and 1" + ("" if required else ", or null"))
    return float(value) if ok else None


def _png(value: Any, where: str, limit: int, errors: _Errors) -> bytes | None:
    if value is None:
        return None
    try:
        data = base64.b64decode(value, validate=True) if isinstance(value, str) else b""
        if len(data) > limit:
            errors.check(False, where, f"the picture is larger than {limit} bytes")
            return None
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
            if image.format == "PNG":
                return data
    except (ValueError, UnidentifiedImageError, OSError, SyntaxError):
        pass  # binascii.Error is a ValueError, as is base64 of non-ASCII text
    errors.check(False, where, "a base64-encoded PNG image")
    return None


def _probabilities(value: Any, where: str, errors: _Errors) -> tuple[float, ...] | None:
    ok = (isinstance(value, list) and len(value) == _GRADES
          and all(_is_number(p) and 0 <= p <= 1 for p in value))
    if not errors.check(ok, where, f"{_GRADES} numbers between 0 and 1, one per ICDR grade"):
        return None
    errors.check(abs(sum(value) - 1) <= _PROBABILITY_TOLERANCE, where,
                 "the probabilities must add up to 1")
    return tuple(float(p) for p in value)


def _quality_scores(value: Any, where: str, errors: _Errors) -> dict[str, float] | None:
    if value is None:
        return None
    ok = (isinstance(value, dict) and set(value) <= set(QUALITY_SCORES)
          and all(_is_number(v) for v in value.values()))
    errors.check(ok, where, f"an object of numbers named {', '.join(QUALITY_SCORES)}")
    return {k: float(value[k]) for k in QUALITY_SCORES if k in value} if ok else None


def _reasons(value: Any, where: str, errors: _Errors) -> tuple[str, ...]:
    value = [] if value is None else value
    ok = isinstance(value, list) and all(
        isinstance(r, str) and 0 < len(r.strip()) <= REASON_LIMIT and r.isprintable()
        for r in value)
    errors.check(ok, where, f"a list of reasons, each 1 to {REASON_LIMIT} characters")
    return tuple(r.strip() for r in value) if ok else ()


def _graded(item: Mapping[str, Any], at: str, errors: _Errors) -> tuple[int | None, ImageQuality]:
    grade, quality = item.get("grade"), item.get("image_quality")
    quality = quality if isinstance(quality, str) else None  # an object is no quality
    errors.check(grade is None or (isinstance(grade, int) and not isinstance(grade, bool)
                                   and 0 <= grade < _GRADES),
                 f"{at}.grade", "an ICDR grade 0-4, or null when ungradable")
    errors.check(quality in {q.value for q in ImageQuality}, f"{at}.image_quality",
                 "good, adequate or ungradable")
    errors.check((grade is None) == (quality == ImageQuality.UNGRADABLE), f"{at}.grade",
                 "grade is null exactly when image_quality is ungradable")
    known = quality if quality in {q.value for q in ImageQuality} else ImageQuality.UNGRADABLE
    return grade if isinstance(grade, int) else None, ImageQuality(known)


def _ungradable_is_empty(item: Mapping[str, Any], at: str, errors: _Errors) -> None:
    """An ungradable eye or photograph: no probabilities, referral unknown, nothing assessed."""
    for key in ("probabilities", "referable", "referable_probability", "borderline",
                "dme_probability", "maculopathy"):
        errors.check(item.get(key) is None, f"{at}.{key}",
                     "null for an ungradable eye: it was not graded (referral unknown)")


def _decision(item: Mapping[str, Any], at: str, errors: _Errors) -> dict[str, Any]:
    """The AI node's decision on a gradable eye or photograph, as posted."""
    referable, borderline = item.get("referable"), item.get("borderline")
    errors.check(isinstance(referable, bool), f"{at}.referable",
                 "true or false: the AI node's referral decision")
    errors.check(isinstance(borderline, bool), f"{at}.borderline",
                 "true or false: the decision lay within the borderline margin")
    dme = _fraction(item.get("dme_probability"), f"{at}.dme_probability", errors, False)
    maculopathy = item.get("maculopathy")
    errors.check(maculopathy is None or isinstance(maculopathy, bool), f"{at}.maculopathy",
                 "true, false or null when not assessed")
    errors.check((maculopathy is None) == (dme is None), f"{at}.maculopathy",
                 "the maculopathy finding comes with its probability, or neither "
                 "(not assessed)")
    return {"probabilities": _probabilities(item.get("probabilities"),
                                            f"{at}.probabilities", errors),
            "referable": referable if isinstance(referable, bool) else None,
            "referable_probability": _fraction(item.get("referable_probability"),
                                               f"{at}.referable_probability", errors, True),
            "borderline": borderline if isinstance(borderline, bool) else None,
            "dme_probability": dme,
            "maculopathy": maculopathy if isinstance(maculopathy, bool) else None}


def _assessment(item: Mapping[str, Any], at: str, errors: _Errors) -> Assessment:
    """Grade, decision, quality: the part an eye and a photograph share."""
    grade, quality = _graded(item, at, errors)
    reasons = _reasons(item.get("quality_reasons"), f"{at}.quality_reasons", errors)
    scores = _quality_scores(item.get("quality"), f"{at}.quality", errors)
    if grade is None:
        _ungradable_is_empty(item, at, errors)
        errors.check(bool(reasons), f"{at}.quality_reasons",
                     "why an ungradable eye must be re-imaged (e.g. focus, field)")
        decided: dict[str, Any] = dict.fromkeys(
            ("probabilities", "referable", "referable_probability", "borderline",
             "dme_probability", "maculopathy"))
    else:
        decided = _decision(item, at, errors)
    return Assessment(grade=grade, image_quality=quality, quality_scores=scores,
                      quality_reasons=reasons, **decided)


def _image(item: Any, at: str, limit: int, errors: _Errors) -> ImageInput | None:
    if not errors.check(isinstance(item, dict), at, "an object"):
        return None
    assessment = _assessment(item, at, errors)
    decisive = item.get("decisive")
    errors.check(isinstance(decisive, bool), f"{at}.decisive",
                 "true for the photograph that decides the eye's finding")
    doubt = item.get("laterality_doubt")
    errors.check(doubt is None or (isinstance(doubt, str) and len(doubt) <= DOUBT_LIMIT),
                 f"{at}.laterality_doubt", f"null, or a reason of at most {DOUBT_LIMIT} "
                 "characters")
    simulated = item.get("simulated", False)
    errors.check(isinstance(simulated, bool), f"{at}.simulated",
                 "true for a simulated capture (not a photograph of the patient), else false")
    kind, other = (("heatmap_png", "photograph_png") if assessment.grade is not None
                   else ("photograph_png", "heatmap_png"))
    errors.check(item.get(other) is None, f"{at}.{other}",
                 "a heat map for a gradable photograph, the photograph for an ungradable one")
    return ImageInput(
        sop_instance_uid=_uid(item.get("sop_instance_uid"), f"{at}.sop_instance_uid", errors),
        decisive=decisive is True, assessment=assessment,
        laterality_doubt=" ".join(doubt.split()) if isinstance(doubt, str) else "",
        sc_sop_instance_uid=_optional_uid(item.get("sc_sop_instance_uid"),
                                          f"{at}.sc_sop_instance_uid", errors),
        picture=_png(item.get(kind), f"{at}.{kind}", limit, errors),
        simulated=simulated is True)


def _images(item: Mapping[str, Any], at: str, limit: int,
            errors: _Errors) -> tuple[ImageInput, ...]:
    value = item.get("images", [])
    if not errors.check(isinstance(value, list) and len(value) <= MAX_IMAGES, f"{at}.images",
                        f"a list of at most {MAX_IMAGES} photographs"):
        return ()
    images = [_image(image, f"{at}.images[{i}]", limit, errors) for i, image in enumerate(value)]
    return tuple(image for image in images if image is not None)


def _eye_images_agree(eye: EyeInput, at: str, errors: _Errors) -> None:
    """The photographs are the eye's sources, and the decisive one is the eye's finding."""
    if not eye.images:
        errors.check(eye.decisive_sop_instance_uid in (None, *eye.source_sop_instance_uids),
                     f"{at}.decisive_sop_instance_uid", "one of source_sop_instance_uids")
        return
    uids = [image.sop_instance_uid for image in eye.images]
    errors.check(sorted(uids) == sorted(set(eye.source_sop_instance_uids)) and
                 len(set(uids)) == len(uids), f"{at}.images",
                 "one entry per photograph of source_sop_instance_uids")
    decisive = [image for image in eye.images if image.decisive]
    if not errors.check(len(decisive) == 1 and decisive[0].sop_instance_uid
                        == eye.decisive_sop_instance_uid, f"{at}.decisive_sop_instance_uid",
                        "the one photograph marked decisive"):
        return
    ours, its = eye.assessment, decisive[0].assessment
    errors.check((ours.grade, ours.referable) == (its.grade, its.referable), f"{at}.grade",
                 "the eye's grade and referral are its deciding photograph's")


def _eye(item: Any, index: int, limit: int, errors: _Errors) -> EyeInput | None:
    at = f"eyes[{index}]"
    if not errors.check(isinstance(item, dict), at, "an object"):
        return None
    laterality = item.get("laterality")
    errors.check(laterality in ("R", "L"), f"{at}.laterality", "R or L (Image Laterality)")
    assessment = _assessment(item, at, errors)
    gradable = assessment.grade is not None
    sources = item.get("source_sop_instance_uids")
    errors.check(isinstance(sources, list) and len(sources) > 0, f"{at}.source_sop_instance_uids",
                 "the SOP Instance UIDs of the graded images")
    eye = EyeInput(
        laterality=str(laterality), assessment=assessment,
        referral_threshold=_fraction(item.get("referral_threshold"),
                                     f"{at}.referral_threshold", errors, gradable),
        borderline_margin=_fraction(item.get("borderline_margin"), f"{at}.borderline_margin",
                                    errors, False),
        quality_score=_fraction(item.get("quality_score"), f"{at}.quality_score", errors, False),
        source_sop_instance_uids=tuple(_uid(u, f"{at}.source_sop_instance_uids", errors)
                                       for u in (sources if isinstance(sources, list) else [])),
        decisive_sop_instance_uid=_optional_uid(item.get("decisive_sop_instance_uid"),
                                                f"{at}.decisive_sop_instance_uid", errors),
        images=_images(item, at, limit, errors),
        heatmap=_png(item.get("heatmap_png"), f"{at}.heatmap_png", limit, errors),
        sc_sop_instance_uid=_optional_uid(item.get("sc_sop_instance_uid"),
                                          f"{at}.sc_sop_instance_uid", errors))
    if errors:
        return None
    _eye_images_agree(eye, at, errors)
    return eye


def _digest(body: Mapping[str, Any]) -> str:
    """SHA-256 of the whole canonical body: every field, each eye's own included."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


def _captures_distinct(eyes: list[EyeInput], errors: _Errors) -> None:
    captures = [e.sc_sop_instance_uid for e in eyes if e.sc_sop_instance_uid]
    errors.check(len(set(captures)) == len(captures), "eyes",
                 "each eye's sc_sop_instance_uid names its own Secondary Capture")
    per_image = [i.sc_sop_instance_uid for e in eyes for i in e.images if i.sc_sop_instance_uid]
    errors.check(len(set(per_image)) == len(per_image), "eyes",
                 "each photograph's sc_sop_instance_uid names its own Secondary Capture")


def parse_result(body: Any, heatmap_limit: int) -> ResultInput:
    """Validate a posted result; raise :class:`ValidationError` naming each bad field.

    ``heatmap_limit`` is the largest picture (heat map or photograph), in bytes.
    """
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
    parsed = [_eye(item, i, heatmap_limit, errors) for i, item in enumerate(raw_eyes or [])]
    eyes = [e for e in parsed if e is not None]
    lateralities = [e.laterality for e in eyes]
    errors.check(len(set(lateralities)) == len(lateralities), "eyes", "one entry per eye")
    _captures_distinct(eyes, errors)
    if errors or performed_at is None:
        raise ValidationError("the result is not valid", errors)
    return ResultInput(name, version, performed_at, sr_uid, sc_uid, tuple(eyes), _digest(body))
