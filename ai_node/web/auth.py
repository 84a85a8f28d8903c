"""Signing on through the EMR and logging out of the page."""

from __future__ import annotations

from imaging_common.web.sign_on import sign_on_blueprint, sign_on_client

from ai_node.web.forms import CsrfForm

__all__ = ["bp"]

bp = sign_on_blueprint(sign_on_client, "pages.index", CsrfForm)
