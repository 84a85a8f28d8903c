"""A nurse's acknowledgement that a referral has been passed on to an ophthalmologist."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from emr.models.accounts import User
from emr.models.base import Base, UtcDateTime, utcnow
from emr.models.results import AiResult

__all__ = ["ReferralAcknowledgement"]


class ReferralAcknowledgement(Base):
    """The referral made by one AI result (as signed, where reviewed) was acted on.

    One per result: a newer result of the order, or of a later order, that
    refers again asks for an acknowledgement of its own.
    """

    __tablename__ = "referral_acknowledgements"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    result_id: Mapped[int] = mapped_column(ForeignKey("ai_results.id"), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    note: Mapped[str] = mapped_column(Text, default="")

    result: Mapped[AiResult] = relationship()
    user: Mapped[User] = relationship()
