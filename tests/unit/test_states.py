"""The run state machine: the transition table is the only source of truth."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from turnout.contracts import (
    ACTIVE_STATES,
    TERMINAL_STATES,
    TRANSITIONS,
    IllegalTransitionError,
    RunState,
    can_transition,
    check_transition,
    is_terminal,
)

ALL_PAIRS = list(itertools.product(RunState, RunState))
LEGAL = [(src, dst) for src, targets in TRANSITIONS.items() for dst in sorted(targets)]
ILLEGAL = [(src, dst) for src, dst in ALL_PAIRS if dst not in TRANSITIONS[src]]


def test_run_state_has_exactly_the_documented_values() -> None:
    assert {state.value for state in RunState} == {
        "queued",
        "claimed",
        "running",
        "waiting_approval",
        "completed",
        "failed",
        "canceled",
        "terminated",
        "timed_out",
        "continued_as_new",
    }


def test_table_has_a_row_for_every_state() -> None:
    assert set(TRANSITIONS) == set(RunState)


def test_no_state_transitions_to_itself() -> None:
    for state, targets in TRANSITIONS.items():
        assert state not in targets


@pytest.mark.parametrize(("source", "target"), LEGAL, ids=str)
def test_every_legal_transition_is_accepted(source: RunState, target: RunState) -> None:
    assert check_transition(source, target) is target
    assert check_transition(source.value, target.value) is target
    assert can_transition(source, target)


@pytest.mark.parametrize(("source", "target"), ILLEGAL, ids=str)
def test_every_other_pair_is_refused(source: RunState, target: RunState) -> None:
    assert not can_transition(source, target)
    with pytest.raises(IllegalTransitionError) as info:
        check_transition(source, target)
    message = str(info.value)
    assert repr(source.value) in message
    assert repr(target.value) in message
    assert info.value.source == source.value
    assert info.value.target == target.value


@pytest.mark.parametrize("state", sorted(TERMINAL_STATES))
def test_terminal_states_have_no_way_out(state: RunState) -> None:
    assert TRANSITIONS[state] == frozenset()
    for target in RunState:
        with pytest.raises(IllegalTransitionError):
            check_transition(state, target)


@pytest.mark.parametrize("state", list(RunState))
def test_is_terminal_agrees_with_terminal_states(state: RunState) -> None:
    expected = state in TERMINAL_STATES
    assert is_terminal(state) is expected
    assert is_terminal(state.value) is expected
    assert state.is_terminal is expected


def test_active_and_terminal_states_partition_the_enum() -> None:
    assert set(RunState) == ACTIVE_STATES | TERMINAL_STATES
    assert not ACTIVE_STATES & TERMINAL_STATES


def test_every_active_state_can_reach_a_terminal_state() -> None:
    for state in ACTIVE_STATES:
        assert TRANSITIONS[state] & TERMINAL_STATES, state


def test_unknown_state_name_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="paused"):
        check_transition("queued", "paused")


@settings(database=None, max_examples=200)
@given(st.sampled_from(list(RunState)), st.sampled_from(list(RunState)))
def test_random_pairs_agree_with_the_table(source: RunState, target: RunState) -> None:
    allowed = target in TRANSITIONS[source]
    assert can_transition(source, target) is allowed
    if allowed:
        assert check_transition(source, target) is target
    else:
        with pytest.raises(IllegalTransitionError):
            check_transition(source, target)
