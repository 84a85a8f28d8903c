"""``/metrics`` for a Flask app, with its HTTP requests counted and timed.

:func:`init_metrics` gives one app a registry of its own (so that several apps
in one process, as in the tests, never register a metric twice), holding:

- ``fovea_http_requests_total`` by endpoint, method and status code, and
  ``fovea_http_request_duration_seconds`` by endpoint and method. The
  endpoint is Flask's endpoint name (``orders.show``), never the path, whose
  ids and query strings would grow the label set and could carry patient
  data; a request no rule matched is ``unmatched``;
- the collectors the app adds (the AI node's queue, read at each scrape);
- everything in prometheus_client's process-wide registry: the process and
  Python metrics, a service's domain counters, the DIMSE metrics of a storage
  SCP running in the same process (:mod:`imaging_common.metrics`).

``/metrics`` needs no log-in, as Prometheus scrapes it; no label or value
identifies a patient.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from flask import Flask, Response, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

__all__ = ["HttpMetrics", "METRICS_KEY", "ProcessMetrics", "init_metrics"]

#: Where :func:`init_metrics` keeps the app's :class:`HttpMetrics`.
METRICS_KEY = "fovea_metrics"
#: The endpoint label of a request that matched no URL rule (404, 405).
UNMATCHED = "unmatched"
#: Methods counted by name; any other is ``other``.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_STARTED = "_fovea_metrics_started"


class ProcessMetrics(Collector):
    """Everything in another registry (the process-wide one by default), read at each scrape."""

    def __init__(self, source: CollectorRegistry = REGISTRY) -> None:
        self.source = source

    def collect(self) -> Iterable[Metric]:
        return self.source.collect()

    def describe(self) -> Iterable[Metric]:
        return []  # not known in advance; the names never clash with the app's own


@dataclass(frozen=True)
class HttpMetrics:
    """One app's registry and its request metrics."""

    registry: CollectorRegistry
    requests: Counter
    duration: Histogram


def init_metrics(app: Flask, *collectors: Collector) -> HttpMetrics:
    """Count and time ``app``'s requests, and serve ``GET /metrics`` (endpoint ``metrics``).

    Args:
        app: the application, from its factory.
        collectors: more collectors for this app's registry.
    """
    registry = CollectorRegistry()
    metrics = HttpMetrics(
        registry=registry,
        requests=Counter("fovea_http_requests_total",
                         "HTTP requests answered, by endpoint, method and status code",
                         ["endpoint", "method", "status"], registry=registry),
        duration=Histogram("fovea_http_request_duration_seconds",
                           "Seconds to answer an HTTP request, by endpoint and method",
                           ["endpoint", "method"], registry=registry,
                           buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
                                    30)))
    for collector in (*collectors, ProcessMetrics()):
        registry.register(collector)
    app.extensions[METRICS_KEY] = metrics
    app.before_request(_start_timer)
    app.after_request(_count)
    app.add_url_rule("/metrics", endpoint="metrics", view_func=_exposition, methods=["GET"])
    return metrics


def _start_timer() -> None:
    setattr(g, _STARTED, time.perf_counter())


def _count(response: Response) -> Response:
    metrics: HttpMetrics = current_app.extensions[METRICS_KEY]
    endpoint = request.endpoint or UNMATCHED
    method = request.method if request.method in METHODS else "other"
    metrics.requests.labels(endpoint=endpoint, method=method,
                            status=str(response.status_code)).inc()
    started = g.get(_STARTED)
    if started is not None:  # None: an earlier before_request answered first
        metrics.duration.labels(endpoint=endpoint, method=method).observe(
            time.perf_counter() - started)
    return response


def _exposition() -> Response:
    metrics: HttpMetrics = current_app.extensions[METRICS_KEY]
    return Response(generate_latest(metrics.registry), content_type=CONTENT_TYPE_LATEST)
