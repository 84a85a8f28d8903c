"""The archive outbox (``archive_outbox``) and the verified report of each sign-off.

Signing a review writes a verified report (SR) for the PACS into the outbox
in the same transaction, and names it on each review of that signing
(``reviews.sr_sop_instance_uid``). Reviews signed before this revision were
never archived: their column stays null, and nothing is owed for them.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "archive_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.Enum("verified-sr", "report-pdf", name="archive_kind",
                                  native_enum=False, length=16, create_constraint=True),
                  nullable=False),
        sa.Column("sop_class_uid", sa.String(length=64), nullable=False),
        sa.Column("sop_instance_uid", sa.String(length=64), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=True),
        sa.Column("state", sa.Enum("pending", "sent", name="archive_state", native_enum=False,
                                   length=8, create_constraint=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_attempt_at", sa.DateTime(), nullable=True),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("result_id", sa.Integer(), nullable=True),
        sa.Column("signed_by_id", sa.Integer(), nullable=True),
        sa.Column("predecessor_uid", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"],
                                name=op.f("fk_archive_outbox_order_id_orders")),
        sa.ForeignKeyConstraint(["result_id"], ["ai_results.id"],
                                name=op.f("fk_archive_outbox_result_id_ai_results")),
        sa.ForeignKeyConstraint(["signed_by_id"], ["users.id"],
                                name=op.f("fk_archive_outbox_signed_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_archive_outbox")),
        sa.UniqueConstraint("sop_instance_uid", name=op.f("uq_archive_outbox_sop_instance_uid")),
    )
    op.create_index(op.f("ix_archive_outbox_order_id"), "archive_outbox", ["order_id"])
    op.create_index(op.f("ix_archive_outbox_state"), "archive_outbox", ["state"])
    # A nullable column without a default: a plain ALTER TABLE ADD COLUMN on SQLite too,
    # with no batch-mode table copy (which would lose the CHECK constraints of reviews).
    op.add_column("reviews", sa.Column("sr_sop_instance_uid", sa.String(length=64),
                                       nullable=True))
    op.create_index(op.f("ix_reviews_sr_sop_instance_uid"), "reviews", ["sr_sop_instance_uid"])


def downgrade() -> None:
    # ALTER TABLE DROP COLUMN (SQLite 3.35 or later) once the column is in no index.
    op.drop_index(op.f("ix_reviews_sr_sop_instance_uid"), table_name="reviews")
    op.drop_column("reviews", "sr_sop_instance_uid")
    op.drop_index(op.f("ix_archive_outbox_state"), table_name="archive_outbox")
    op.drop_index(op.f("ix_archive_outbox_order_id"), table_name="archive_outbox")
    op.drop_table("archive_outbox")
