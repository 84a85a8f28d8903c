"""The database of one app: its engine, and a session per request.

The engine and session factory are made once, when the app is created, and
kept in ``app.extensions``; :func:`session` hands the request's session out and
the app closes it at the end of the request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app, g
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

__all__ = ["Database", "init_database", "session"]

_KEY = "fovea_database"


@dataclass(frozen=True)
class Database:
    """The engine and the session factory of one app."""

    engine: Engine
    sessions: sessionmaker[Session]


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets foreign keys, WAL and a busy timeout."""
    engine = create_engine(url, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(connection: Any, record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def init_database(app: Flask, url: str) -> Database:
    """Bind a database to ``app``; the request's session closes at teardown."""
    engine = make_engine(url)
    database = Database(engine, sessionmaker(engine, expire_on_commit=False))
    app.extensions[_KEY] = database
    app.teardown_appcontext(_close_session)
    return database


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
