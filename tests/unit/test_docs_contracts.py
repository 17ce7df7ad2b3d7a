"""docs/contracts.md must keep up with the code: states, event types, transitions, replay roles."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from turnout.contracts import (
    COMMAND_EVENT_TYPES,
    INBOUND_EVENT_TYPES,
    TRANSITIONS,
    EventType,
    RunState,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "contracts.md"


@pytest.fixture(scope="module")
def text() -> str:
    return DOC.read_text(encoding="utf-8")


def _section(text: str, heading: str) -> str:
    start = text.index(heading)
    following = re.search(r"^#{1,3} ", text[start + len(heading) :], flags=re.MULTILINE)
    end = start + len(heading) + following.start() if following else len(text)
    return text[start:end]


@pytest.mark.parametrize("state", list(RunState))
def test_every_run_state_is_documented(text: str, state: RunState) -> None:
    assert f"`{state.value}`" in text


@pytest.mark.parametrize("event_type", list(EventType))
def test_every_event_type_is_documented(text: str, event_type: EventType) -> None:
    assert f"`{event_type.value}`" in text


def test_run_states_table_has_a_row_per_state(text: str) -> None:
    section = _section(text, "## Run states")
    rows = re.findall(r"^\| `([a-z_]+)` \|", section, flags=re.MULTILINE)
    assert rows[: len(RunState)] == [s.value for s in RunState]


def test_transition_table_matches_the_code(text: str) -> None:
    block = text.split("<!-- transitions:start -->")[1].split("<!-- transitions:end -->")[0]
    documented: dict[str, set[str]] = {}
    for line in block.strip().splitlines()[2:]:
        source, targets = (cell.strip() for cell in line.strip().strip("|").split("|"))
        documented[source.strip("`")] = set(re.findall(r"`([a-z_]+)`", targets))
    assert documented == {
        source.value: {target.value for target in targets}
        for source, targets in TRANSITIONS.items()
    }


def test_event_table_has_one_row_per_type_with_its_replay_role(text: str) -> None:
    section = _section(text, "### Event types")
    roles: dict[str, str] = {}
    for line in section.splitlines():
        match = re.match(r"^\| `([a-z_]+)` \|", line)
        if match:
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            assert match.group(1) not in roles, f"{match.group(1)} documented twice"
            roles[match.group(1)] = cells[3]
    assert set(roles) == {t.value for t in EventType}
    for event_type in EventType:
        if event_type in INBOUND_EVENT_TYPES:
            expected = "in"
        elif event_type in COMMAND_EVENT_TYPES:
            expected = "cmd"
        else:
            expected = "-"
        assert roles[event_type.value] == expected, event_type.value
