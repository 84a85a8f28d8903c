"""An app's database: the engine and session factory, and one session per request.

The engine and session factory are made once, when the app is created
(:func:`open_engine` gives SQLite foreign keys, WAL, full sync and a busy
timeout), and bound to the app with :func:`bind_database`; :func:`session`
hands out the request's session, which the app closes (rolling back after an
error) at the end of the request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app, g
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

__all__ = ["Database", "bind_database", "database", "open_engine", "session"]

_KEY = "fovea_database"


@dataclass(frozen=True)
class Database:
    """The engine and the session factory of one app."""

    engine: Engine
    sessions: sessionmaker[Session]

    @classmethod
    def on(cls, engine: Engine) -> Database:
        return cls(engine, sessionmaker(engine, expire_on_commit=False))

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def open_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets foreign keys, WAL, full sync and a busy timeout
    (pages and background work write at the same time)."""
    engine = create_engine(url, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(connection: Any, record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def bind_database(app: Flask, db: Database) -> Database:
    """Bind ``db`` to ``app``; the request's session closes at teardown."""
    app.extensions[_KEY] = db
    app.teardown_appcontext(_close_session)
    return db


def database(app: Flask | None = None) -> Database:
    """The database bound to ``app`` (the current app by default)."""
    bound: Database = (app or current_app).extensions[_KEY]
    return bound


def session() -> Session:
    """The session of the current app context, opened on first use."""
    if "db_session" not in g:
        g.db_session = database().sessions()
    opened: Session = g.db_session
    return opened


def _close_session(exc: BaseException | None) -> None:
    db_session = g.pop("db_session", None)
    if db_session is not None:
        if exc is not None:
            db_session.rollback()
        db_session.close()
