"""Each eye's own Secondary Capture: ``eye_results.sc_sop_instance_uid``.

The AI node writes one Secondary Capture (heat map) per eye; the result-level
``ai_results.sc_sop_instance_uid`` stays as it is. Results stored before this
revision keep a null per-eye UID.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A nullable column without a default: a plain ALTER TABLE ADD COLUMN on SQLite too.
    op.add_column("eye_results", sa.Column("sc_sop_instance_uid", sa.String(64), nullable=True))


def downgrade() -> None:
    # ALTER TABLE DROP COLUMN needs SQLite 3.35 or later; the column is in no index
    # or constraint, so no batch-mode table copy (which would lose the CHECK constraints).
    op.drop_column("eye_results", "sc_sop_instance_uid")
