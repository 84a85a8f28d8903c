"""AI results per eye, and the ophthalmologists' reviews kept beside them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import (JSON, Boolean, Enum, Float, ForeignKey, Integer, LargeBinary,
                        String, Text, UniqueConstraint)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from emr.grading import DrGrade, Finding, ImageQuality
from emr.models.accounts import User, enum_values
from emr.models.base import Base, UtcDateTime, utcnow

if TYPE_CHECKING:
    from emr.models.orders import Order

__all__ = ["AiResult", "Decision", "EyeResult", "Review"]


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


class EyeResult(Base):
    """The AI's finding for one eye (Image Laterality R or L)."""

    __tablename__ = "eye_results"
    __table_args__ = (UniqueConstraint("result_id", "laterality",
                                       name="uq_eye_results_result_laterality"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    result_id: Mapped[int] = mapped_column(ForeignKey("ai_results.id"), index=True)
    laterality: Mapped[str] = mapped_column(String(1))
    grade: Mapped[int | None] = mapped_column(Integer)
    probabilities: Mapped[list[float]] = mapped_column(JSON)
    referable: Mapped[bool] = mapped_column(Boolean)
    maculopathy: Mapped[bool | None] = mapped_column(Boolean)
    image_quality: Mapped[ImageQuality] = mapped_column(
        Enum(ImageQuality, native_enum=False, length=16, values_callable=enum_values,
             create_constraint=True, name="image_quality"))
    quality_score: Mapped[float | None] = mapped_column(Float)
    source_sop_instance_uids: Mapped[list[str]] = mapped_column(JSON)
    #: This eye's own Secondary Capture (heat map) written by the AI node; null on
    #: results posted before the AI node sent one per eye.
    sc_sop_instance_uid: Mapped[str | None] = mapped_column(String(64))
    heatmap: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    heatmap_media_type: Mapped[str] = mapped_column(String(32), default="")

    result: Mapped[AiResult] = relationship(back_populates="eyes")
    reviews: Mapped[list[Review]] = relationship(
        back_populates="eye_result", order_by="Review.id")

    @property
    def finding(self) -> Finding:
        """What the AI found in this eye."""
        grade = None if self.grade is None else DrGrade(self.grade)
        return Finding(grade, self.maculopathy)

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
        """Each ICDR grade with its probability."""
        return [(DrGrade(i), float(p)) for i, p in enumerate(self.probabilities)]

    def as_json(self) -> dict[str, Any]:
        """The eye as the REST API returns it."""
        return {
            "laterality": self.laterality, "grade": self.grade,
            "grade_label": self.finding.label, "probabilities": self.probabilities,
            "referable": self.referable, "maculopathy": self.maculopathy,
            "image_quality": self.image_quality.value, "quality_score": self.quality_score,
            "source_sop_instance_uids": self.source_sop_instance_uids,
            "sc_sop_instance_uid": self.sc_sop_instance_uid,
            "has_heatmap": bool(self.heatmap_media_type),
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

    eye_result: Mapped[EyeResult] = relationship(back_populates="reviews")
    reviewer: Mapped[User] = relationship()

    @property
    def finding(self) -> Finding:
        """The finding the ophthalmologist signed off."""
        grade = None if self.grade is None else DrGrade(self.grade)
        return Finding(grade, self.maculopathy)
