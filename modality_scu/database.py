"""The station's database: one engine and session factory per process.

The web app and the outbox sender share them; the app keeps its request's
session and closes it at the end of the request (:mod:`imaging_common.web.database`).
"""

from __future__ import annotations

from flask import Flask

from imaging_common.web.database import Database, bind_database, database, open_engine, session
from modality_scu.models import Base

__all__ = ["Database", "database", "init_database", "open_database", "session"]


def open_database(url: str) -> Database:
    """Open ``url``, creating the tables that do not exist yet."""
    engine = open_engine(url)
    Base.metadata.create_all(engine)
    return Database.on(engine)


def init_database(app: Flask, db: Database) -> None:
    """Bind ``db`` to ``app``; the request's session closes at teardown."""
    bind_database(app, db)
