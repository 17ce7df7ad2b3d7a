"""Property-based tests of the run state machine.

The state machine is data (``turnout.contracts.states.TRANSITIONS``): random walks
through it check that every move of the table is accepted, every other one refused
with ``IllegalTransitionError``, and that a terminal state is never left. The queue's
properties are in test_properties.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from turnout.contracts.errors import IllegalTransitionError
from turnout.contracts.states import (
    ACTIVE_STATES,
    TERMINAL_STATES,
    TRANSITIONS,
    RunState,
    can_transition,
    check_transition,
    is_terminal,
    sources_of,
)

STATES = list(RunState)


# --------------------------------------------------------------------------- states


def test_every_pair_of_states_is_accepted_exactly_when_the_table_says() -> None:
    for source in STATES:
        for target in STATES:
            allowed = target in TRANSITIONS[source]
            assert can_transition(source, target) is allowed
            assert can_transition(source.value, target.value) is allowed
            assert (source in sources_of(target)) is allowed
            if allowed:
                assert check_transition(source, target) is target
                assert check_transition(source.value, target.value) is target
            else:
                with pytest.raises(IllegalTransitionError) as refused:
                    check_transition(source, target)
                assert source.value in str(refused.value)
                assert target.value in str(refused.value)
    assert set(TRANSITIONS) == set(STATES)
    assert set(STATES) == TERMINAL_STATES | ACTIVE_STATES
    assert not TERMINAL_STATES & ACTIVE_STATES
    for state in STATES:
        assert is_terminal(state) is state.is_terminal is (state in TERMINAL_STATES)
        assert (TRANSITIONS[state] == frozenset()) is state.is_terminal


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_random_walks_follow_the_table_and_never_leave_a_terminal_state(data: Any) -> None:
    current = RunState.QUEUED
    closed: RunState | None = None
    for _ in range(data.draw(st.integers(min_value=1, max_value=40), label="steps")):
        legal = sorted(TRANSITIONS[current])
        # Half of the moves are legal ones (when there are any), so that walks get deep.
        if legal and data.draw(st.booleans(), label="legal move"):
            target = data.draw(st.sampled_from(legal), label="target")
        else:
            target = data.draw(st.sampled_from(STATES), label="target")
        if target in TRANSITIONS[current]:
            assert closed is None, f"{closed} is terminal but accepted a move to {target}"
            assert check_transition(current, target) is target
            current = target
        else:
            with pytest.raises(IllegalTransitionError):
                check_transition(current.value, target.value)
        if closed is not None:
            assert current is closed
        elif current.is_terminal:
            closed = current
