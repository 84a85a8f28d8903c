"""The station's database: one engine and session factory per process.

The web app and the outbox sender share them; the app keeps its request's
session in ``g`` and closes it at the end of the request. SQLite (the default,
under the data folder) gets WAL and a busy timeout, since the sender writes
while pages are served.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app, g
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from modality_scu.models import Base

__all__ = ["Database", "database", "init_database", "open_database", "session"]

_KEY = "fovea_station_database"


@dataclass(frozen=True)
class Database:
    """The engine and the session factory of the station's database."""

    engine: Engine
    sessions: sessionmaker[Session]

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def open_database(url: str) -> Database:
    """Open ``url``, creating the tables that do not exist yet."""
    engine = create_engine(url, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    Base.metadata.create_all(engine)
    return Database(engine, sessionmaker(engine, expire_on_commit=False))


def _sqlite_pragmas(connection: Any, record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def init_database(app: Flask, db: Database) -> None:
    """Bind ``db`` to ``app``; the request's session closes at teardown."""
    app.extensions[_KEY] = db
    app.teardown_appcontext(_close_session)


def database(app: Flask | None = None) -> Database:
    """The database bound to ``app`` (the current app by default)."""
    return (app or current_app).extensions[_KEY]


def session() -> Session:
    """The session of the current app context, opened on first use."""
    if "db_session" not in g:
        g.db_session = database().sessions()
    return g.db_session


def _close_session(exc: BaseException | None) -> None:
    db_session = g.pop("db_session", None)
    if db_session is not None:
        if exc is not None:
            db_session.rollback()
        db_session.close()
