"""The EMR's domain counters for Prometheus: orders, their transitions, AI results.

They count rows when their transaction commits (a rolled-back prescription
counts nothing), from the session factory's events, so that the domain
functions (:mod:`emr.orders`, :mod:`emr.results`) stay unaware of them. They
live in prometheus_client's process-wide registry, which the app's
``/metrics`` serves (:func:`imaging_common.web_metrics.init_metrics`) beside
its HTTP request metrics. Labels are order states only: nothing identifies a
patient or an order.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from emr.models import AiResult, OrderTransition
from emr.states import OrderState

__all__ = ["ORDERS_CREATED", "ORDER_TRANSITIONS", "RESULTS_POSTED", "count_commits"]

PREFIX = "fovea_emr"

#: Orders prescribed (their first transition, into *scheduled*).
ORDERS_CREATED = Counter(f"{PREFIX}_orders_created_total", "Orders prescribed")
#: Every transition of an order, by the state it entered (creation included).
ORDER_TRANSITIONS = Counter(f"{PREFIX}_order_transitions_total",
                            "Order state transitions, by the state entered", ["to_state"])
#: AI results stored (a repeated identical POST stores nothing and counts nothing).
RESULTS_POSTED = Counter(f"{PREFIX}_results_posted_total", "AI results stored")

_PENDING = "fovea_metrics_pending"


def count_commits(sessions: sessionmaker[Session]) -> None:
    """Count the transitions and results that sessions of ``sessions`` commit."""
    event.listen(sessions, "after_flush", _collect)
    event.listen(sessions, "after_commit", _count)
    event.listen(sessions, "after_rollback", _forget)


def _collect(session: Session, flush_context: Any) -> None:
    """After a flush, ``session.new`` still lists what the flush inserted: keep
    the entered state of each new transition (``None`` for a result)."""
    pending: list[tuple[str | None, bool]] = session.info.setdefault(_PENDING, [])
    for row in session.new:
        if isinstance(row, OrderTransition):
            pending.append((OrderState(row.to_state).value, row.from_state is None))
        elif isinstance(row, AiResult):
            pending.append((None, False))


def _count(session: Session) -> None:
    for to_state, created in session.info.pop(_PENDING, []):
        if to_state is None:
            RESULTS_POSTED.inc()
            continue
        ORDER_TRANSITIONS.labels(to_state=to_state).inc()
        if created:
            ORDERS_CREATED.inc()


def _forget(session: Session) -> None:
    session.info.pop(_PENDING, None)
