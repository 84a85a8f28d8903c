"""One blueprint per feature; :func:`register_blueprints` binds them all to an app."""

from __future__ import annotations

from flask import Flask

__all__ = ["register_blueprints"]


def register_blueprints(app: Flask) -> None:
    """Register every feature's blueprint on ``app``."""
    from emr.blueprints import (admin, api, archive, audit, auth, dashboard, orders, patients,
                                recall, reports)

    for module in (auth, patients, orders, reports, archive, recall, admin, audit, dashboard,
                   api):
        app.register_blueprint(module.bp)
