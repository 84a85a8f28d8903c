"""Recording who viewed or changed a patient's data; the log only grows.

Every view or change of patient data calls :func:`record` in the same
transaction as the change, so an audited change and its entry commit together.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from emr.models import AuditEntry, User

__all__ = ["Actor", "AuditLogIsAppendOnly", "protect_audit_log", "record"]


@dataclass(frozen=True)
class Actor:
    """Who acts: a logged-in person or a service presenting its token."""

    user: User | None = None
    service: str | None = None
    remote_addr: str = ""

    def __post_init__(self) -> None:
        if (self.user is None) == (self.service is None):
            raise ValueError("an actor is either a user or a service")

    @property
    def user_id(self) -> int | None:
        """The acting user's id, ``None`` for a service."""
        return self.user.id if self.user is not None else None


class AuditLogIsAppendOnly(RuntimeError):
    """Raised when code tries to change or delete an audit entry."""


def record(
    db: Session,
    actor: Actor,
    action: str,
    *,
    patient_id: int | None = None,
    order_id: int | None = None,
    detail: Mapping[str, Any] | None = None,
) -> AuditEntry:
    """Add an audit entry to ``db``'s transaction.

    Args:
        action: a dotted verb, e.g. ``patient.view``, ``order.transition``.
        detail: a small mapping of non-identifying facts, stored as JSON.
    """
    entry = AuditEntry(
        user_id=actor.user_id, service=actor.service, action=action,
        patient_id=patient_id, order_id=order_id, remote_addr=actor.remote_addr[:64],
        detail=json.dumps(dict(detail or {}), sort_keys=True, default=str),
    )
    db.add(entry)
    return entry


def _refuse_changes(db: Session, flush_context: Any, instances: Any) -> None:
    for instance in (*db.dirty, *db.deleted):
        if isinstance(instance, AuditEntry):
            raise AuditLogIsAppendOnly("the audit log is append-only")


def protect_audit_log() -> None:
    """Make every ORM session refuse to update or delete audit entries.

    The database refuses too (triggers from the initial migration); this
    catches the mistake earlier, with a clearer message.
    """
    if not event.contains(Session, "before_flush", _refuse_changes):
        event.listen(Session, "before_flush", _refuse_changes)
