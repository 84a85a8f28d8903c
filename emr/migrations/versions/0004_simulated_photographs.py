"""Whether a photograph graded is a simulated capture: ``eye_images.simulated``.

The station's demo mode draws synthetic fundus pictures and marks them in
DICOM (:mod:`imaging_common.simulation`); the AI node posts, per photograph,
whether it read such a mark, and the report says so. Photographs stored
before this revision were posted without it and read as not simulated.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # NOT NULL with a constant default: a plain ALTER TABLE ADD COLUMN on SQLite too,
    # and every row stored before reads false.
    op.add_column("eye_images", sa.Column("simulated", sa.Boolean(), nullable=False,
                                          server_default=sa.false()))


def downgrade() -> None:
    # DROP COLUMN needs SQLite 3.35 or later; the column is in no index or constraint,
    # so no batch-mode table copy.
    op.drop_column("eye_images", "simulated")
