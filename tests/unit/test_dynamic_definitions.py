"""Dynamic definitions are checked when decorated, as temporalio checks them: a name and
``dynamic=True`` together, or a run method, handler or activity not of the dynamic shape,
are refused with the error temporalio raises; a worker takes one dynamic workflow and one
dynamic activity; the internal executor hands the code RawValues and converts them."""

from __future__ import annotations

import typing
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from turnout import activity, workflow
from turnout.common import RawValue
from turnout.executors.internal import codec
from turnout.workflows._definitions import (
    ActivityDefinition,
    WorkflowDefinition,
    runtime_handler,
    signal_name,
    update_name,
)
from turnout.workflows._dynamic import DYNAMIC, by_name, lookup


@workflow.defn(dynamic=True)
class Anything:
    @workflow.run
    async def run(self, args: Sequence[RawValue]) -> str:
        return "ok"

    @workflow.signal(dynamic=True)
    def any_signal(self, name: str, args: Sequence[RawValue]) -> None: ...

    @workflow.update(dynamic=True)
    def any_update(self, name: str, args: typing.Sequence[RawValue]) -> None: ...


@activity.defn(dynamic=True)
def any_activity(args: Sequence[RawValue]) -> None: ...


def test_a_dynamic_workflow_has_no_name_and_takes_raw_arguments() -> None:
    defn = WorkflowDefinition.must_from_class(Anything)
    assert (defn.name, defn.dynamic) == (DYNAMIC, True)
    assert defn.signals[DYNAMIC].dynamic
    assert defn.updates[DYNAMIC].dynamic
    # Seen under the type it runs; a type of its own name is its own.
    assert lookup({DYNAMIC: defn}, "Checkout") == defn.for_type("Checkout")
    assert lookup({DYNAMIC: defn}, "Checkout").name == "Checkout"  # type: ignore[union-attr]
    assert lookup({}, "Checkout") is None
    # Started by a type name only: its run method is no workflow to start.
    assert WorkflowDefinition.from_run_fn(Anything.run) is None


def test_name_and_dynamic_together_are_refused() -> None:
    def on_any(self: Any, name: str, args: Sequence[RawValue]) -> None: ...

    with pytest.raises(RuntimeError, match="name or dynamic"):
        workflow.signal(name="x", dynamic=True)(on_any)
    with pytest.raises(RuntimeError, match="name or dynamic"):

        @workflow.defn(name="Named", dynamic=True)
        class Named:
            @workflow.run
            async def run(self, args: Sequence[RawValue]) -> None: ...

    with pytest.raises(RuntimeError, match="name or dynamic"):
        activity.defn(name="named", dynamic=True)(any_activity)


def test_a_dynamic_run_method_takes_one_sequence_of_raw_values() -> None:
    with pytest.raises(TypeError, match=r"args: Sequence\[RawValue\]"):

        @workflow.defn(dynamic=True)
        class TwoParameters:
            @workflow.run
            async def run(self, name: str, args: Sequence[RawValue]) -> None: ...

    with pytest.raises(TypeError, match=r"args: Sequence\[RawValue\]"):

        @workflow.defn(dynamic=True)
        class Untyped:
            @workflow.run
            async def run(self, args):  # type: ignore[no-untyped-def]
                ...


@pytest.mark.parametrize("decorator", [workflow.signal, workflow.query, workflow.update])
def test_a_dynamic_handler_takes_a_name_and_raw_values(decorator: Any) -> None:
    def values_only(self: Any, args: Sequence[RawValue]) -> None: ...

    def name_not_str(self: Any, name: int, args: Sequence[RawValue]) -> None: ...

    def varargs(self: Any, name: str, *args: Any) -> None: ...

    for fn in (values_only, name_not_str, varargs):
        with pytest.raises(RuntimeError, match=r"\(name: str, args: Sequence\[RawValue\]\)"):
            decorator(dynamic=True)(fn)


def test_a_dynamic_activity_takes_one_sequence_of_raw_values() -> None:
    def takes_text(text: str) -> None: ...

    with pytest.raises(TypeError, match=r"args: Sequence\[RawValue\]"):
        activity.defn(dynamic=True)(takes_text)


def test_a_dynamic_handler_set_at_run_time_is_checked_too() -> None:
    def good(name: str, args: Sequence[RawValue]) -> None: ...

    assert runtime_handler(DYNAMIC, good).dynamic
    with pytest.raises(RuntimeError, match="dynamic"):
        runtime_handler(DYNAMIC, lambda name, args: None)


def test_a_dynamic_handler_cannot_be_sent_by_its_method() -> None:
    with pytest.raises(RuntimeError, match="no name to send"):
        signal_name(Anything.any_signal)
    with pytest.raises(RuntimeError, match="no name to send"):
        update_name(Anything.any_update)


@workflow.defn(dynamic=True)
class Another:
    """A second dynamic workflow (module level: temporalio refuses local classes, and its
    definition hook is installed once any test used the Temporal executor)."""

    @workflow.run
    async def run(self, args: Sequence[RawValue]) -> None: ...


@activity.defn(dynamic=True)
def another_activity(args: Sequence[RawValue]) -> None: ...


def test_a_worker_takes_one_dynamic_workflow_and_one_dynamic_activity() -> None:
    defns = [WorkflowDefinition.must_from_class(c) for c in (Anything, Another)]
    with pytest.raises(TypeError, match=r"one dynamic workflow.*Anything and .*Another"):
        by_name(defns, "workflow")

    activities = [
        ActivityDefinition.must_from_callable(a) for a in (any_activity, another_activity)
    ]
    with pytest.raises(TypeError, match="one dynamic activity"):
        by_name(activities, "activity")


@dataclass
class Point:
    x: int
    y: int


def test_raw_values_carry_the_stored_json_and_the_converter_converts_them() -> None:
    stored = codec.encode_args([Point(1, 2), b"\xff", "text"])
    defn = ActivityDefinition.must_from_callable(any_activity)
    (raw,) = codec.decode_args(stored, defn.arg_types)
    assert raw == [RawValue({"x": 1, "y": 2}), RawValue(stored[1]), RawValue("text")]
    converter = codec.CONVERTER
    assert converter.from_payload(raw[0].payload, Point) == Point(1, 2)
    assert converter.from_payload(raw[1].payload, bytes) == b"\xff"
    assert converter.from_payloads([r.payload for r in raw[:1]], [Point]) == [Point(1, 2)]
    assert converter.from_payload(raw[2].payload) == "text"
    assert converter.to_payload(Point(3, 4)) == {"x": 3, "y": 4}
    # A RawValue handed on (to an activity, as a result) passes through untouched.
    assert codec.encode(raw[0]) == {"x": 1, "y": 2}
    assert codec.decode({"x": 1}, RawValue) == RawValue({"x": 1})
