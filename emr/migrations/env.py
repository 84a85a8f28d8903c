"""Alembic environment: migrate the connection :mod:`emr.migrate` hands over.

Run through ``flask --app emr db-upgrade``, ``python -m emr`` (at start-up) or
the ``alembic`` command with ``-x url=DATABASE_URL``.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine, text

from emr.models import Base

#: Any 64-bit number shared by every EMR process: one migrates at a time.
POSTGRES_MIGRATION_LOCK = 0x464F564541454D52  # "FOVEAEMR"


def run_migrations(connection: Connection) -> None:
    """Upgrade over ``connection``, serialised across processes on PostgreSQL."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                           {"key": POSTGRES_MIGRATION_LOCK})
    context.configure(connection=connection, target_metadata=Base.metadata,
                      render_as_batch=connection.dialect.name == "sqlite",
                      compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    """Use the handed-over connection, or open one from ``-x url=...``."""
    connection = context.config.attributes.get("connection")
    if connection is not None:
        run_migrations(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or \
        context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("give the database as: alembic -x url=DATABASE_URL upgrade head")
    engine = create_engine(url)
    with engine.connect() as new_connection:
        run_migrations(new_connection)
        new_connection.commit()
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported; run them online")
run_online()
