"""What the node's operators and their monitoring read: ``/metrics`` and ``/healthz``.

Neither needs a log-in, and neither shows patient data (:mod:`ai_node.monitoring`).
``/healthz`` answers 200 when the node can grade (Redis answers, a worker is
alive, the model has an active version), else 503, with the details in JSON.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from ai_node.monitoring import health
from ai_node.web.context import web_context

__all__ = ["METRICS_KEY", "bp"]

bp = Blueprint("ops", __name__)

#: Where :func:`ai_node.web.create_app` keeps the app's metrics registry.
METRICS_KEY = "fovea_ai_metrics"


@bp.get("/metrics")
def metrics() -> Response:
    registry: CollectorRegistry = current_app.extensions[METRICS_KEY]
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    context = web_context()
    body, healthy = health(context.dispatcher, context.config)
    return jsonify(body), 200 if healthy else 503
