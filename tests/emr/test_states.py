"""The order state machine, on its own: every allowed move, and every other refused."""

from __future__ import annotations

import itertools

import pytest

from emr.states import (REASON_REQUIRED, TERMINAL_STATES, TRANSITIONS, InvalidTransition,
                        OrderState, allowed_targets, check_transition)

ALLOWED = [(s, t) for s, targets in TRANSITIONS.items() for t in targets]
REFUSED = [(s, t) for s, t in itertools.product(OrderState, OrderState)
           if t not in TRANSITIONS[s]]


def test_every_state_has_a_row_and_the_design_states_exist() -> None:
    assert set(TRANSITIONS) == set(OrderState)
    assert {s.value for s in OrderState} == {
        "scheduled", "in_progress", "acquired", "ai_queued", "ai_running", "ai_done",
        "reviewed", "discontinued", "failed"}
    assert TERMINAL_STATES == {OrderState.DISCONTINUED}


def test_the_main_workflow_is_a_path() -> None:
    path = ["scheduled", "in_progress", "acquired", "ai_queued", "ai_running", "ai_done",
            "reviewed"]
    for current, target in itertools.pairwise(path):
        check_transition(OrderState(current), OrderState(target))


@pytest.mark.parametrize(("current", "target"), ALLOWED)
def test_allowed_moves_pass(current: OrderState, target: OrderState) -> None:
    check_transition(current, target, reason="because")
    assert target in allowed_targets(current)


@pytest.mark.parametrize(("current", "target"), REFUSED)
def test_other_moves_are_refused(current: OrderState, target: OrderState) -> None:
    with pytest.raises(InvalidTransition, match="cannot move"):
        check_transition(current, target, reason="because")


@pytest.mark.parametrize("target", sorted(REASON_REQUIRED))
def test_discontinuing_or_failing_needs_a_reason(target: OrderState) -> None:
    with pytest.raises(InvalidTransition, match="needs a reason"):
        check_transition(OrderState.IN_PROGRESS, target, reason="  ")
    check_transition(OrderState.IN_PROGRESS, target, reason="camera broke")


def test_the_refusal_names_the_allowed_moves() -> None:
    with pytest.raises(InvalidTransition) as caught:
        check_transition(OrderState.SCHEDULED, OrderState.AI_DONE)
    assert "allowed: discontinued, in_progress" in str(caught.value)
    with pytest.raises(InvalidTransition, match="final"):
        check_transition(OrderState.DISCONTINUED, OrderState.SCHEDULED)
