"""One blueprint per feature; :func:`register_blueprints` binds them all to an app."""

from __future__ import annotations

from flask import Flask

__all__ = ["register_blueprints"]


def register_blueprints(app: Flask) -> None:
    """Register every feature's blueprint on ``app``."""
    from modality_scu.blueprints import auth, examinations, worklist

    for module in (auth, worklist, examinations):
        app.register_blueprint(module.bp)
