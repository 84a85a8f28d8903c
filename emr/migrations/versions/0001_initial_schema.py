"""Initial schema: accounts, patients, orders, results, reviews, append-only audit log.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the enumerations as they were when this revision was written.
ROLES = ("nurse", "technician", "ophthalmologist", "admin")
SEXES = ("M", "F", "O", "")
LATERALITIES = ("both", "right", "left")
PRIORITIES = ("ROUTINE", "HIGH", "STAT")
STATES = ("scheduled", "in_progress", "acquired", "ai_queued", "ai_running", "ai_done",
          "reviewed", "discontinued", "failed")
QUALITIES = ("good", "adequate", "ungradable")
DECISIONS = ("approve", "correct")

APPEND_ONLY = "the audit log is append-only"


def enum(table: str, name: str, values: Sequence[str], length: int) -> sa.Enum:
    """A string column limited to ``values`` by a check constraint."""
    return sa.Enum(*values, name=op.f(f"ck_{table}_{name}"), native_enum=False,
                   create_constraint=True, length=length)


def keys(table: str, *unique: str) -> list[sa.Constraint]:
    """The primary key ``id`` and single-column unique constraints, named by convention."""
    constraints: list[sa.Constraint] = [sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}"))]
    constraints += [sa.UniqueConstraint(c, name=op.f(f"uq_{table}_{c}")) for c in unique]
    return constraints


def column(name: str, type_: sa.types.TypeEngine, nullable: bool = False) -> sa.Column:
    """A column, NOT NULL unless said otherwise."""
    return sa.Column(name, type_, nullable=nullable)


def foreign_key(table: str, name: str, target: str) -> sa.ForeignKeyConstraint:
    """A foreign key named by the metadata's naming convention."""
    return sa.ForeignKeyConstraint([name], [f"{target}.id"],
                                   name=op.f(f"fk_{table}_{name}_{target}"))


def index(table: str, *columns: str, name: str | None = None) -> None:
    """An index named by the metadata's naming convention."""
    op.create_index(name or op.f(f"ix_{table}_{columns[0]}"), table, list(columns))


def upgrade() -> None:
    create_accounts()
    create_patients()
    create_orders()
    create_results()
    create_audit_log()


def create_accounts() -> None:
    op.create_table(
        "users",
        column("id", sa.Integer()),
        column("username", sa.String(64)),
        column("full_name", sa.String(128)),
        column("role", enum("users", "role", ROLES, 16)),
        column("password_hash", sa.String(256)),
        column("active", sa.Boolean()),
        column("created_at", sa.DateTime()),
        column("last_login_at", sa.DateTime(), nullable=True),
        *keys("users", "username"),
    )
    op.create_table(
        "login_attempts",
        column("id", sa.Integer()),
        column("at", sa.DateTime()),
        column("username", sa.String(64)),
        column("remote_addr", sa.String(64)),
        column("succeeded", sa.Boolean()),
        *keys("login_attempts"),
    )
    index("login_attempts", "username", "at", name="ix_login_attempts_username_at")
    index("login_attempts", "remote_addr", "at", name="ix_login_attempts_remote_addr_at")


def create_patients() -> None:
    op.create_table(
        "patients",
        column("id", sa.Integer()),
        column("mrn", sa.String(64)),
        column("family_name", sa.String(64)),
        column("given_name", sa.String(64)),
        column("middle_name", sa.String(64)),
        column("name_prefix", sa.String(64)),
        column("name_suffix", sa.String(64)),
        column("birth_date", sa.Date()),
        column("sex", enum("patients", "sex", SEXES, 1)),
        column("created_at", sa.DateTime()),
        column("updated_at", sa.DateTime()),
        *keys("patients", "mrn"),
    )
    index("patients", "family_name")
    index("patients", "birth_date")


def create_orders() -> None:
    op.create_table(
        "orders",
        column("id", sa.Integer()),
        column("patient_id", sa.Integer()),
        column("laterality", enum("orders", "laterality", LATERALITIES, 8)),
        column("priority", enum("orders", "priority", PRIORITIES, 8)),
        column("reason", sa.String(64)),
        column("ordering_user_id", sa.Integer()),
        column("scheduled_station_ae", sa.String(16)),
        column("scheduled_at", sa.DateTime()),
        column("accession_number", sa.String(16)),
        column("requested_procedure_id", sa.String(16)),
        column("scheduled_procedure_step_id", sa.String(16)),
        column("study_instance_uid", sa.String(64)),
        column("state", enum("orders", "state", STATES, 16)),
        column("state_reason", sa.Text()),
        column("created_at", sa.DateTime()),
        column("updated_at", sa.DateTime()),
        foreign_key("orders", "patient_id", "patients"),
        foreign_key("orders", "ordering_user_id", "users"),
        *keys("orders", "accession_number", "requested_procedure_id",
              "scheduled_procedure_step_id", "study_instance_uid"),
    )
    for name in ("patient_id", "scheduled_station_ae", "scheduled_at", "state", "created_at"):
        index("orders", name)
    op.create_table(
        "order_transitions",
        column("id", sa.Integer()),
        column("order_id", sa.Integer()),
        column("from_state", enum("order_transitions", "from_state", STATES, 16),
               nullable=True),
        column("to_state", enum("order_transitions", "to_state", STATES, 16)),
        column("reason", sa.Text()),
        column("at", sa.DateTime()),
        column("user_id", sa.Integer(), nullable=True),
        column("service", sa.String(64), nullable=True),
        foreign_key("order_transitions", "order_id", "orders"),
        foreign_key("order_transitions", "user_id", "users"),
        *keys("order_transitions"),
    )
    index("order_transitions", "order_id")


def create_results() -> None:
    op.create_table(
        "ai_results",
        column("id", sa.Integer()),
        column("order_id", sa.Integer()),
        column("model_name", sa.String(64)),
        column("model_version", sa.String(32)),
        column("sr_sop_instance_uid", sa.String(64)),
        column("sc_sop_instance_uid", sa.String(64)),
        column("content_digest", sa.String(64)),
        column("performed_at", sa.DateTime()),
        column("received_at", sa.DateTime()),
        column("service", sa.String(64)),
        foreign_key("ai_results", "order_id", "orders"),
        sa.UniqueConstraint("order_id", "model_name", "model_version",
                            name="uq_ai_results_order_model"),
        *keys("ai_results"),
    )
    index("ai_results", "order_id")
    op.create_table(
        "eye_results",
        column("id", sa.Integer()),
        column("result_id", sa.Integer()),
        column("laterality", sa.String(1)),
        column("grade", sa.Integer(), nullable=True),
        column("probabilities", sa.JSON()),
        column("referable", sa.Boolean()),
        column("maculopathy", sa.Boolean(), nullable=True),
        column("image_quality", enum("eye_results", "image_quality", QUALITIES, 16)),
        column("quality_score", sa.Float(), nullable=True),
        column("source_sop_instance_uids", sa.JSON()),
        column("heatmap", sa.LargeBinary(), nullable=True),
        column("heatmap_media_type", sa.String(32)),
        foreign_key("eye_results", "result_id", "ai_results"),
        sa.UniqueConstraint("result_id", "laterality", name="uq_eye_results_result_laterality"),
        *keys("eye_results"),
    )
    index("eye_results", "result_id")
    op.create_table(
        "reviews",
        column("id", sa.Integer()),
        column("eye_result_id", sa.Integer()),
        column("reviewer_id", sa.Integer()),
        column("decision", enum("reviews", "decision", DECISIONS, 8)),
        column("grade", sa.Integer(), nullable=True),
        column("maculopathy", sa.Boolean(), nullable=True),
        column("comment", sa.Text()),
        column("created_at", sa.DateTime()),
        foreign_key("reviews", "eye_result_id", "eye_results"),
        foreign_key("reviews", "reviewer_id", "users"),
        *keys("reviews"),
    )
    index("reviews", "eye_result_id")


def create_audit_log() -> None:
    op.create_table(
        "audit_entries",
        column("id", sa.Integer()),
        column("at", sa.DateTime()),
        column("user_id", sa.Integer(), nullable=True),
        column("service", sa.String(64), nullable=True),
        column("action", sa.String(64)),
        column("patient_id", sa.Integer(), nullable=True),
        column("order_id", sa.Integer(), nullable=True),
        column("detail", sa.Text()),
        column("remote_addr", sa.String(64)),
        foreign_key("audit_entries", "user_id", "users"),
        foreign_key("audit_entries", "patient_id", "patients"),
        foreign_key("audit_entries", "order_id", "orders"),
        *keys("audit_entries"),
    )
    for name in ("at", "user_id", "action", "patient_id"):
        index("audit_entries", name)
    make_audit_log_append_only()


def make_audit_log_append_only() -> None:
    """Triggers that refuse UPDATE, DELETE (and on PostgreSQL TRUNCATE) of audit rows."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"""
            CREATE FUNCTION audit_entries_append_only() RETURNS trigger
            LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION '{APPEND_ONLY}'; END $$""")
        op.execute("""
            CREATE TRIGGER audit_entries_no_change BEFORE UPDATE OR DELETE ON audit_entries
            FOR EACH ROW EXECUTE FUNCTION audit_entries_append_only()""")
        op.execute("""
            CREATE TRIGGER audit_entries_no_truncate BEFORE TRUNCATE ON audit_entries
            FOR EACH STATEMENT EXECUTE FUNCTION audit_entries_append_only()""")
        return
    for verb in ("UPDATE", "DELETE"):
        op.execute(f"""
            CREATE TRIGGER audit_entries_no_{verb.lower()} BEFORE {verb} ON audit_entries
            BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END""")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TABLE audit_entries")
        op.execute("DROP FUNCTION audit_entries_append_only()")
    else:
        op.drop_table("audit_entries")
    for table in ("reviews", "eye_results", "ai_results", "order_transitions", "orders",
                  "patients", "login_attempts", "users"):
        op.drop_table(table)
