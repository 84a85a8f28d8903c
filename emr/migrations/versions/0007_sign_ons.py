"""Sign-ons: every session on the EMR and on the apps it signs people on to.

Sessions before this revision held the account's number; they name no
sign-on, so everyone logs in again once.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sign_ons",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("client", sa.String(length=32), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("token_hash", sa.String(length=64), nullable=True),
        sa.Column("code_hash", sa.String(length=64), nullable=True),
        sa.Column("code_expires_at", sa.DateTime(), nullable=True),
        sa.Column("credential_stamp", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.Column("end_reason", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
                                name=op.f("fk_sign_ons_user_id_users")),
        sa.ForeignKeyConstraint(["parent_id"], ["sign_ons.id"],
                                name=op.f("fk_sign_ons_parent_id_sign_ons")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sign_ons")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_sign_ons_token_hash")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_sign_ons_code_hash")),
    )
    op.create_index("ix_sign_ons_user_id_ended_at", "sign_ons", ["user_id", "ended_at"])


def downgrade() -> None:
    op.drop_index("ix_sign_ons_user_id_ended_at", table_name="sign_ons")
    op.drop_table("sign_ons")
