"""The EMR's tables (SQLAlchemy 2.0 typed declarative models).

- :mod:`~emr.models.accounts`: users and log-in attempts.
- :mod:`~emr.models.patients`: patients.
- :mod:`~emr.models.orders`: orders and their state transitions.
- :mod:`~emr.models.results`: AI results per eye and per photograph, and reviews.
- :mod:`~emr.models.recall`: acknowledgements of referrals.
- :mod:`~emr.models.audit`: the append-only audit log.
- :mod:`~emr.models.archive`: the outbox of DICOM objects owed to the PACS.
- :mod:`~emr.models.sign_on`: each person's sessions on the EMR and the apps it signs on to.
"""

from emr.models.accounts import LoginAttempt, Role, User
from emr.models.archive import ArchiveItem, ArchiveKind, ArchiveState
from emr.models.audit import AuditEntry
from emr.models.base import Base, utcnow
from emr.models.orders import Laterality, Order, OrderTransition, Priority
from emr.models.patients import Patient, Sex
from emr.models.recall import ReferralAcknowledgement
from emr.models.results import AiResult, Decision, EyeImage, EyeResult, Review
from emr.models.sign_on import SignOn

__all__ = [
    "AiResult", "ArchiveItem", "ArchiveKind", "ArchiveState", "AuditEntry", "Base", "Decision",
    "EyeImage", "EyeResult", "Laterality",
    "LoginAttempt", "Order", "OrderTransition", "Patient", "Priority", "ReferralAcknowledgement",
    "Review", "Role", "Sex", "SignOn", "User", "utcnow",
]
