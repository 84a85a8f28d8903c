"""AI results per eye, and the ophthalmologists' reviews kept beside them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import (JSON, Boolean, Enum, Float, ForeignKey, Integer, LargeBinary,
                        String, Text, UniqueConstraint, false)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from emr.grading import DrGrade, Finding, ImageQuality
from emr.models.accounts import User, enum_values
from emr.models.base import Base, UtcDateTime, utcnow

if TYPE_CHECKING:
    from emr.models.orders import Order

__all__ = ["AiResult", "Decision", "EyeImage", "EyeResult", "Review"]

#: JSON that stores Python's None as SQL NULL (not the JSON text "null"), so
#: that "IS NULL" finds it, in migrations too.
NULLABLE_JSON = JSON(none_as_null=True)


class AiResult(Base):
    """One model's grading of one order's study.

    A model (name and version) grades an order once: the same result posted
    again is recognised by ``content_digest``; a newer version adds a result.
    """

    __tablename__ = "ai_results"
    __table_args__ = (UniqueConstraint("order_id", "model_name", "model_version",
                                       name="uq_ai_results_order_model"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    model_name: Mapped[str] = mapped_column(String(64))
    model_version: Mapped[str] = mapped_column(String(32))
    sr_sop_instance_uid: Mapped[str] = mapped_column(String(64))
    sc_sop_instance_uid: Mapped[str] = mapped_column(String(64))
    content_digest: Mapped[str] = mapped_column(String(64))
    performed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    service: Mapped[str] = mapped_column(String(64))

    order: Mapped[Order] = relationship(back_populates="results")
    eyes: Mapped[list[EyeResult]] = relationship(
        back_populates="result", order_by="EyeResult.laterality.desc()",
        cascade="all, delete-orphan")

    def eye(self, laterality: str) -> EyeResult | None:
        """The result for ``R`` or ``L``, if graded."""
        return next((e for e in self.eyes if e.laterality == laterality), None)

    @property
    def simulated(self) -> bool:
        """Whether any photograph graded is a simulated capture, not a photograph."""
        return any(eye.simulated_images for eye in self.eyes)


def _quality_type() -> Enum:
    """Image quality: a string limited by a CHECK constraint, ``ck_<table>_image_quality``."""
    return Enum(ImageQuality, native_enum=False, length=16, values_callable=enum_values,
                create_constraint=True, name="image_quality")


class EyeResult(Base):
    """The AI's finding for one eye (Image Laterality R or L), as the AI node decided it.

    ``referable`` is the node's referral decision (its referable probability
    against the model's registered threshold), stored as posted and never
    derived from the grade; it and the probabilities are null for an
    ungradable eye. ``images`` are every photograph graded, each with its own
    grade; the eye's finding is that of the one named ``decisive``. Results
    posted before revision 0003 have no images, scores or threshold.
    """

    __tablename__ = "eye_results"
    __table_args__ = (UniqueConstraint("result_id", "laterality",
                                       name="uq_eye_results_result_laterality"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    result_id: Mapped[int] = mapped_column(ForeignKey("ai_results.id"), index=True)
    laterality: Mapped[str] = mapped_column(String(1))
    grade: Mapped[int | None] = mapped_column(Integer)
    probabilities: Mapped[list[float] | None] = mapped_column(NULLABLE_JSON)
    referable: Mapped[bool | None] = mapped_column(Boolean)
    maculopathy: Mapped[bool | None] = mapped_column(Boolean)
    image_quality: Mapped[ImageQuality] = mapped_column(_quality_type())
    quality_score: Mapped[float | None] = mapped_column(Float)
    source_sop_instance_uids: Mapped[list[str]] = mapped_column(JSON)
    #: This eye's own Secondary Capture (heat map) written by the AI node; null on
    #: results posted before the AI node sent one per eye.
    sc_sop_instance_uid: Mapped[str | None] = mapped_column(String(64))
    heatmap: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    heatmap_media_type: Mapped[str] = mapped_column(String(32), default="")
    referable_probability: Mapped[float | None] = mapped_column(Float)
    referral_threshold: Mapped[float | None] = mapped_column(Float)
    borderline: Mapped[bool | None] = mapped_column(Boolean)
    #: The AI node's borderline margin: |probability - threshold| <= margin.
    borderline_margin: Mapped[float | None] = mapped_column(Float)
    #: P(referable DME); null when the model does not assess it (or ungradable).
    dme_probability: Mapped[float | None] = mapped_column(Float)
    #: The deciding photograph's scores: field, brightness, overexposed, underexposed, focus.
    quality_scores: Mapped[dict[str, float] | None] = mapped_column(NULLABLE_JSON)
    #: Why the eye is ungradable, e.g. ["focus", "under-illumination"].
    quality_reasons: Mapped[list[str] | None] = mapped_column(NULLABLE_JSON)
    decisive_sop_instance_uid: Mapped[str | None] = mapped_column(String(64))

    result: Mapped[AiResult] = relationship(back_populates="eyes")
    reviews: Mapped[list[Review]] = relationship(
        back_populates="eye_result", order_by="Review.id")
    images: Mapped[list[EyeImage]] = relationship(
        back_populates="eye_result", order_by="EyeImage.id", cascade="all, delete-orphan")

    @property
    def gradable(self) -> bool:
        return self.grade is not None

    @property
    def finding(self) -> Finding:
        """What the AI found in this eye, with the AI node's referral decision."""
        if self.grade is None:
            return Finding(None)
        return Finding(DrGrade(self.grade), self.maculopathy, bool(self.referable),
                       bool(self.borderline))

    @property
    def review(self) -> Review | None:
        """The latest review of this eye, if any (earlier ones stay on record)."""
        return self.reviews[-1] if self.reviews else None

    @property
    def effective_finding(self) -> Finding:
        """The reviewed finding where an ophthalmologist corrected it, else the AI's."""
        review = self.review
        return review.finding if review is not None else self.finding

    def probability_rows(self) -> list[tuple[DrGrade, float]]:
        """Each ICDR grade with its probability; none for an ungradable eye."""
        return [(DrGrade(i), float(p)) for i, p in enumerate(self.probabilities or ())]

    @property
    def further_images(self) -> list[EyeImage]:
        """The photographs other than the deciding one."""
        return [image for image in self.images if not image.decisive]

    @property
    def simulated_images(self) -> list[EyeImage]:
        """The photographs that are simulated captures (synthetic pictures)."""
        return [image for image in self.images if image.simulated]

    @property
    def laterality_doubts(self) -> list[str]:
        """Every photograph's laterality doubt."""
        return [image.laterality_doubt for image in self.images if image.laterality_doubt]

    def as_json(self) -> dict[str, Any]:
        """The eye as the REST API returns it."""
        return {
            "laterality": self.laterality, "grade": self.grade,
            "grade_label": self.finding.label, "probabilities": self.probabilities,
            "referable": self.referable,
            "referable_probability": self.referable_probability,
            "referral_threshold": self.referral_threshold, "borderline": self.borderline,
            "borderline_margin": self.borderline_margin,
            "dme_probability": self.dme_probability, "maculopathy": self.maculopathy,
            "image_quality": self.image_quality.value, "quality_score": self.quality_score,
            "quality": self.quality_scores, "quality_reasons": self.quality_reasons or [],
            "source_sop_instance_uids": self.source_sop_instance_uids,
            "decisive_sop_instance_uid": self.decisive_sop_instance_uid,
            "sc_sop_instance_uid": self.sc_sop_instance_uid,
            "has_heatmap": bool(self.heatmap_media_type),
            "images": [image.as_json() for image in self.images],
        }


class EyeImage(Base):
    """One photograph of an eye as the AI node graded it, with its own decision and picture.

    ``picture`` is the heat map over the photograph when it was gradable, the
    photograph itself when not (so the reader sees why it must be re-taken).
    ``simulated`` marks a synthetic picture, which the report must say is no
    photograph of the patient.
    """

    __tablename__ = "eye_images"
    __table_args__ = (UniqueConstraint("eye_result_id", "sop_instance_uid",
                                       name="uq_eye_images_eye_result_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    eye_result_id: Mapped[int] = mapped_column(ForeignKey("eye_results.id"), index=True)
    sop_instance_uid: Mapped[str] = mapped_column(String(64))
    decisive: Mapped[bool] = mapped_column(Boolean)
    grade: Mapped[int | None] = mapped_column(Integer)
    probabilities: Mapped[list[float] | None] = mapped_column(NULLABLE_JSON)
    referable: Mapped[bool | None] = mapped_column(Boolean)
    referable_probability: Mapped[float | None] = mapped_column(Float)
    borderline: Mapped[bool | None] = mapped_column(Boolean)
    dme_probability: Mapped[float | None] = mapped_column(Float)
    maculopathy: Mapped[bool | None] = mapped_column(Boolean)
    image_quality: Mapped[ImageQuality] = mapped_column(_quality_type())
    quality_scores: Mapped[dict[str, float] | None] = mapped_column(NULLABLE_JSON)
    quality_reasons: Mapped[list[str]] = mapped_column(JSON)
    laterality_doubt: Mapped[str] = mapped_column(Text, default="")
    #: A simulated capture (the station's demo mode), not a photograph of the
    #: patient: the AI node read its DICOM markers (imaging_common.simulation).
    simulated: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    sc_sop_instance_uid: Mapped[str | None] = mapped_column(String(64))
    picture: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    picture_media_type: Mapped[str] = mapped_column(String(32), default="")

    eye_result: Mapped[EyeResult] = relationship(back_populates="images")

    @property
    def finding(self) -> Finding:
        """What the AI found on this photograph, with the node's decision."""
        if self.grade is None:
            return Finding(None)
        return Finding(DrGrade(self.grade), self.maculopathy, bool(self.referable),
                       bool(self.borderline))

    def as_json(self) -> dict[str, Any]:
        """The photograph as the REST API returns it (the picture is served on the report)."""
        return {
            "sop_instance_uid": self.sop_instance_uid, "decisive": self.decisive,
            "grade": self.grade, "grade_label": self.finding.label,
            "probabilities": self.probabilities, "referable": self.referable,
            "referable_probability": self.referable_probability,
            "borderline": self.borderline, "dme_probability": self.dme_probability,
            "maculopathy": self.maculopathy, "image_quality": self.image_quality.value,
            "quality": self.quality_scores, "quality_reasons": self.quality_reasons,
            "laterality_doubt": self.laterality_doubt or None,
            "simulated": self.simulated,
            "sc_sop_instance_uid": self.sc_sop_instance_uid,
            "has_picture": bool(self.picture_media_type),
        }


class Decision(StrEnum):
    """An ophthalmologist's sign-off of one eye."""

    APPROVE = "approve"
    CORRECT = "correct"


class Review(Base):
    """An ophthalmologist's approval or correction of one eye's AI finding.

    The AI's finding is never changed; the correction sits beside it and
    becomes a label for the next model.
    """

    __tablename__ = "reviews"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    eye_result_id: Mapped[int] = mapped_column(ForeignKey("eye_results.id"), index=True)
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    decision: Mapped[Decision] = mapped_column(
        Enum(Decision, native_enum=False, length=8, values_callable=enum_values,
             create_constraint=True, name="decision"))
    grade: Mapped[int | None] = mapped_column(Integer)
    maculopathy: Mapped[bool | None] = mapped_column(Boolean)
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    #: The verified report (SR) this sign-off is archived in, with the other
    #: eye's of the same signing (emr.signed_report); null before revision 0006.
    sr_sop_instance_uid: Mapped[str | None] = mapped_column(String(64), index=True)

    eye_result: Mapped[EyeResult] = relationship(back_populates="reviews")
    reviewer: Mapped[User] = relationship()

    @property
    def finding(self) -> Finding:
        """The finding the ophthalmologist signed off.

        An approval signs the AI's finding as it is, the node's referral
        decision included; a correction is the ophthalmologist's own finding.
        """
        if self.decision == Decision.APPROVE:
            return self.eye_result.finding
        grade = None if self.grade is None else DrGrade(self.grade)
        return Finding.graded_by_ophthalmologist(grade, self.maculopathy)
