"""The identifiers an order gets at creation (PS3.17 J.2.2, IHE Scheduled Workflow).

- Accession Number (0008,0050), SH: ``FV`` and ten characters.
- Requested Procedure ID (0040,1001), SH: ``RP`` and the same ten characters.
- Scheduled Procedure Step ID (0040,0009), SH: ``SPS`` and the same ten.
- Study Instance UID (0020,000D): a new UID under Fovea's root.

The ten characters are random Crockford base32 (about 50 bits), so every
identifier fits SH's 16 characters and the three read as one family.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from emr.models import Order
from imaging_common.uids import new_uid

__all__ = ["OrderIdentifiers", "new_identifiers"]

#: Crockford's base32: digits and letters without I, L, O and U.
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_TOKEN_LENGTH = 10
_ATTEMPTS = 5


@dataclass(frozen=True)
class OrderIdentifiers:
    """The four identifiers the worklist item and every image of the study carry."""

    accession_number: str
    requested_procedure_id: str
    scheduled_procedure_step_id: str
    study_instance_uid: str


def _token() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(_TOKEN_LENGTH))


def new_identifiers(db: Session) -> OrderIdentifiers:
    """Identifiers no stored order uses (the unique constraints guard any race).

    Raises:
        RuntimeError: no free token was drawn in several attempts (practically never).
    """
    for _ in range(_ATTEMPTS):
        token = _token()
        identifiers = OrderIdentifiers(
            accession_number=f"FV{token}", requested_procedure_id=f"RP{token}",
            scheduled_procedure_step_id=f"SPS{token}", study_instance_uid=str(new_uid()))
        taken = db.scalar(select(Order.id).where(
            Order.accession_number == identifiers.accession_number))
        if taken is None:
            return identifiers
    raise RuntimeError("could not draw an unused accession number")
