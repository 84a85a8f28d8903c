"""What the node's operators and their monitoring read: ``/healthz``.

It needs no log-in and shows no patient data (:mod:`ai_node.monitoring`); nor
does ``/metrics``, which :func:`imaging_common.web_metrics.init_metrics` adds.
``/healthz`` answers 200 when the node can grade (Redis answers, a worker is
alive, the model has an active version), else 503, with the details in JSON.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from ai_node.monitoring import health
from ai_node.web.context import web_context

__all__ = ["bp"]

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    context = web_context()
    body, healthy = health(context.dispatcher, context.config)
    return jsonify(body), 200 if healthy else 503
