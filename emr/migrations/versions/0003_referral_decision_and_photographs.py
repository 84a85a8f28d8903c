"""The AI node's referral decision, every photograph, and the quality scores, per eye.

``eye_results``:

- ``referable`` and ``probabilities`` may be null: an ungradable eye's
  referral is unknown and it has no probabilities. Rows stored before, which
  said "not referable" with five uniform 0.2s for such an eye, are set to null;
- the decision as the AI node made it: ``referable_probability``,
  ``referral_threshold``, ``borderline``, ``borderline_margin``; the oedema
  probability ``dme_probability`` (null: not assessed); the deciding
  photograph's ``quality_scores``, the eye's ``quality_reasons`` and
  ``decisive_sop_instance_uid``. Null on results stored before.

``eye_images``: every photograph graded, with its own grade, decision,
quality, laterality doubt, capture and picture.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copy of the image quality values as they were when this revision was written.
QUALITIES = ("good", "adequate", "ungradable")

NEW_EYE_COLUMNS = (
    ("referable_probability", sa.Float()),
    ("referral_threshold", sa.Float()),
    ("borderline", sa.Boolean()),
    ("borderline_margin", sa.Float()),
    ("dme_probability", sa.Float()),
    ("quality_scores", sa.JSON()),
    ("quality_reasons", sa.JSON()),
    ("decisive_sop_instance_uid", sa.String(64)),
)
#: What 0002 stored for an ungradable eye, restored on the way down.
UNIFORM = "[0.2, 0.2, 0.2, 0.2, 0.2]"


def quality(table: str) -> sa.Enum:
    """The image quality column's type with its named CHECK constraint."""
    return sa.Enum(*QUALITIES, name=op.f(f"ck_{table}_image_quality"), native_enum=False,
                   create_constraint=True, length=16)


def set_nullable(nullable: bool) -> None:
    """``referable`` and ``probabilities`` NULL or NOT NULL.

    SQLite changes a column's nullability only by copying the table (Alembic's
    batch mode; the copy keeps the reflected named constraints, the CHECK of
    ``image_quality`` included) and dropping the original, which ``reviews``
    points at. Its foreign-key checks are therefore suspended while the table
    is swapped: turned off where no transaction is open yet (SQLite ignores
    that pragma inside one), deferred to the commit where one is.
    """
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        op.execute("PRAGMA foreign_keys = OFF")
        op.execute("PRAGMA defer_foreign_keys = ON")
    with op.batch_alter_table("eye_results", recreate="auto") as batch:
        batch.alter_column("referable", existing_type=sa.Boolean(), nullable=nullable)
        batch.alter_column("probabilities", existing_type=sa.JSON(), nullable=nullable)
    if sqlite:
        op.execute("PRAGMA foreign_keys = ON")


def upgrade() -> None:
    set_nullable(True)
    op.execute("UPDATE eye_results SET referable = NULL, probabilities = NULL "
               "WHERE grade IS NULL")
    for name, type_ in NEW_EYE_COLUMNS:
        op.add_column("eye_results", sa.Column(name, type_, nullable=True))
    op.create_table(
        "eye_images",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("eye_result_id", sa.Integer(), nullable=False),
        sa.Column("sop_instance_uid", sa.String(64), nullable=False),
        sa.Column("decisive", sa.Boolean(), nullable=False),
        sa.Column("grade", sa.Integer(), nullable=True),
        sa.Column("probabilities", sa.JSON(), nullable=True),
        sa.Column("referable", sa.Boolean(), nullable=True),
        sa.Column("referable_probability", sa.Float(), nullable=True),
        sa.Column("borderline", sa.Boolean(), nullable=True),
        sa.Column("dme_probability", sa.Float(), nullable=True),
        sa.Column("maculopathy", sa.Boolean(), nullable=True),
        sa.Column("image_quality", quality("eye_images"), nullable=False),
        sa.Column("quality_scores", sa.JSON(), nullable=True),
        sa.Column("quality_reasons", sa.JSON(), nullable=False),
        sa.Column("laterality_doubt", sa.Text(), nullable=False),
        sa.Column("sc_sop_instance_uid", sa.String(64), nullable=True),
        sa.Column("picture", sa.LargeBinary(), nullable=True),
        sa.Column("picture_media_type", sa.String(32), nullable=False),
        sa.ForeignKeyConstraint(["eye_result_id"], ["eye_results.id"],
                                name=op.f("fk_eye_images_eye_result_id_eye_results")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_eye_images")),
        sa.UniqueConstraint("eye_result_id", "sop_instance_uid",
                            name="uq_eye_images_eye_result_id"),
    )
    op.create_index(op.f("ix_eye_images_eye_result_id"), "eye_images", ["eye_result_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_eye_images_eye_result_id"), table_name="eye_images")
    op.drop_table("eye_images")
    # DROP COLUMN needs SQLite 3.35 or later; none of these is in an index or constraint.
    for name, _ in reversed(NEW_EYE_COLUMNS):
        op.drop_column("eye_results", name)
    op.execute(f"UPDATE eye_results SET probabilities = '{UNIFORM}' WHERE probabilities IS NULL")
    op.execute("UPDATE eye_results SET referable = false WHERE referable IS NULL")
    set_nullable(False)
