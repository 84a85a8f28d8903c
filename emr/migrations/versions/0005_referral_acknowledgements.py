"""A nurse's acknowledgement of a referral: ``referral_acknowledgements``.

The recall lists (:mod:`emr.recall`) show referrals not yet acknowledged; a
nurse acknowledges one when it has been passed on. One row per AI result
whose finding referred. Databases before this revision had no acknowledgement,
so every referral they hold reads as not yet acknowledged.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "referral_acknowledgements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("result_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["result_id"], ["ai_results.id"],
            name=op.f("fk_referral_acknowledgements_result_id_ai_results")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"],
            name=op.f("fk_referral_acknowledgements_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referral_acknowledgements")),
        sa.UniqueConstraint("result_id", name=op.f("uq_referral_acknowledgements_result_id")),
    )


def downgrade() -> None:
    op.drop_table("referral_acknowledgements")
