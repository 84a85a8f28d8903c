"""The life of an order: its states and the transitions allowed between them.

The states follow the design's workflow (IHE Scheduled Workflow with AI
Results, simplified): the order is *scheduled* on a station's worklist; the
station's MPPS N-CREATE puts it *in progress* and N-SET COMPLETED makes it
*acquired* (PS3.4 F.7.2: Performed Procedure Step Status IN PROGRESS,
COMPLETED, DISCONTINUED); the AI node queues, runs and finishes grading; an
ophthalmologist's sign-off makes it *reviewed*. An order may be *discontinued*
(by a nurse, or by MPPS DISCONTINUED) or *failed* with a reason.

This module knows nothing about the database or the web: it answers whether a
move is allowed, and says why not.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "ACTIVE_STATES",
    "InvalidTransition",
    "OrderState",
    "REASON_REQUIRED",
    "TERMINAL_STATES",
    "TRANSITIONS",
    "allowed_targets",
    "check_transition",
]


class OrderState(StrEnum):
    """An order's state; the value is what the API and the database carry."""

    SCHEDULED = "scheduled"
    IN_PROGRESS = "in_progress"
    ACQUIRED = "acquired"
    AI_QUEUED = "ai_queued"
    AI_RUNNING = "ai_running"
    AI_DONE = "ai_done"
    REVIEWED = "reviewed"
    DISCONTINUED = "discontinued"
    FAILED = "failed"

    @property
    def label(self) -> str:
        """The state as people read it."""
        return _LABELS[self]


_LABELS = {
    OrderState.SCHEDULED: "scheduled",
    OrderState.IN_PROGRESS: "in progress",
    OrderState.ACQUIRED: "images acquired",
    OrderState.AI_QUEUED: "AI queued",
    OrderState.AI_RUNNING: "AI running",
    OrderState.AI_DONE: "AI done",
    OrderState.REVIEWED: "reviewed",
    OrderState.DISCONTINUED: "discontinued",
    OrderState.FAILED: "failed",
}

S = OrderState

#: Every allowed move, from each state to the states it may go to.
TRANSITIONS: dict[OrderState, frozenset[OrderState]] = {
    # MPPS N-CREATE IN PROGRESS; a nurse cancels before the visit.
    S.SCHEDULED: frozenset({S.IN_PROGRESS, S.DISCONTINUED}),
    # MPPS N-SET COMPLETED or DISCONTINUED; the station gives up.
    S.IN_PROGRESS: frozenset({S.ACQUIRED, S.DISCONTINUED, S.FAILED}),
    S.ACQUIRED: frozenset({S.AI_QUEUED, S.DISCONTINUED, S.FAILED}),
    S.AI_QUEUED: frozenset({S.AI_RUNNING, S.FAILED}),
    # A result posted by the AI node moves the order to AI done.
    S.AI_RUNNING: frozenset({S.AI_DONE, S.FAILED}),
    # Review signs off; re-queueing grades again with a newer model.
    S.AI_DONE: frozenset({S.REVIEWED, S.AI_QUEUED}),
    S.REVIEWED: frozenset({S.AI_QUEUED}),
    # After a failure: acquire again, or grade the acquired images again.
    S.FAILED: frozenset({S.SCHEDULED, S.AI_QUEUED, S.DISCONTINUED}),
    S.DISCONTINUED: frozenset(),
}

#: Moves into these states must say why.
REASON_REQUIRED = frozenset({S.DISCONTINUED, S.FAILED})

TERMINAL_STATES = frozenset(state for state, targets in TRANSITIONS.items() if not targets)

#: States in which an order still waits for something to happen.
ACTIVE_STATES = frozenset(set(OrderState) - TERMINAL_STATES - {S.REVIEWED})


class InvalidTransition(ValueError):
    """A move between two states that the order's life does not allow."""

    def __init__(self, current: OrderState, target: OrderState, why: str = "") -> None:
        self.current = current
        self.target = target
        message = why or (
            f"an order in state '{current.value}' cannot move to '{target.value}'"
            + _allowed_hint(current)
        )
        super().__init__(message)


def _allowed_hint(current: OrderState) -> str:
    targets = sorted(t.value for t in TRANSITIONS[current])
    return f" (allowed: {', '.join(targets)})" if targets else " (it is final)"


def allowed_targets(current: OrderState) -> frozenset[OrderState]:
    """The states an order in ``current`` may move to."""
    return TRANSITIONS[current]


def check_transition(current: OrderState, target: OrderState, reason: str = "") -> None:
    """Return if ``current`` may move to ``target``; raise otherwise.

    Raises:
        InvalidTransition: the move is not in :data:`TRANSITIONS`, or it goes
            to *discontinued* or *failed* without a reason.
    """
    if target not in TRANSITIONS[current]:
        raise InvalidTransition(current, target)
    if target in REASON_REQUIRED and not reason.strip():
        raise InvalidTransition(
            current, target, f"moving an order to '{target.value}' needs a reason"
        )
