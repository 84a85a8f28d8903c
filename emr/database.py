"""The EMR's database: one engine and session factory per app, a session per request
(:mod:`imaging_common.web.database`)."""

from __future__ import annotations

from flask import Flask

from imaging_common.web.database import Database, bind_database, database, open_engine, session

__all__ = ["Database", "database", "init_database", "session"]


def init_database(app: Flask, url: str) -> Database:
    """Bind a database on ``url`` to ``app``; the request's session closes at teardown."""
    return bind_database(app, Database.on(open_engine(url)))
