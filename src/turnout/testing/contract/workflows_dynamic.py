"""Dynamic workflows, handlers and activities (the scenarios in ``test_dynamic.py``), as
temporalio has them: they take ``Sequence[RawValue]`` and convert each value with the
payload converter once they know the name they were called by."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from turnout import activity, workflow
from turnout.common import RawValue


@dataclass
class Order:
    item: str
    quantity: int


@activity.defn(dynamic=True)
async def any_activity(args: Sequence[RawValue]) -> str:
    (customer,) = activity.payload_converter().from_payloads([a.payload for a in args], [str])
    return f"{activity.info().activity_type} {customer}"


@workflow.defn(dynamic=True)
class AnyWorkflow:
    """Runs every workflow type its worker has no other workflow for."""

    @workflow.run
    async def run(self, args: Sequence[RawValue]) -> str:
        converter = workflow.payload_converter()
        order = converter.from_payload(args[0].payload, Order)
        times = converter.from_payload(args[1].payload, int)
        greeting = await workflow.execute_activity(
            "greet", args=[order.item], start_to_close_timeout=timedelta(seconds=30)
        )
        kind = workflow.info().workflow_type
        return f"{kind}: {order.quantity * times} x {order.item}; {greeting}"


@workflow.defn(dynamic=True)
class OtherDynamicWorkflow:
    """A second dynamic workflow: no worker may take both."""

    @workflow.run
    async def run(self, args: Sequence[RawValue]) -> None:
        return None


def _texts(args: Sequence[RawValue]) -> list[str]:
    converter = workflow.payload_converter()
    return [converter.from_payload(a.payload, str) for a in args]


@workflow.defn
class Inbox:
    """Named handlers, and dynamic ones for every other name."""

    def __init__(self) -> None:
        self.log: list[str] = []
        self.closed = False

    @workflow.run
    async def run(self) -> list[str]:
        await workflow.wait_condition(lambda: self.closed)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.log

    @workflow.signal
    def note(self, text: str) -> None:
        self.log.append(f"note {text}")

    @workflow.signal(dynamic=True)
    def any_signal(self, name: str, args: Sequence[RawValue]) -> None:
        if name == "close":
            self.closed = True
        self.log.append(f"signal {name} {_texts(args)}")

    @workflow.query
    def count(self) -> int:
        return len(self.log)

    @workflow.query(dynamic=True)
    def any_query(self, name: str, args: Sequence[RawValue]) -> str:
        return f"query {name} {_texts(args)} after {len(self.log)}"

    @workflow.update(dynamic=True)
    async def any_update(self, name: str, args: Sequence[RawValue]) -> str:
        info = workflow.current_update_info()
        assert info is not None
        assert info.name == name
        self.log.append(f"update {name} {_texts(args)}")
        return f"{name} done"

    @any_update.validator
    def check_update(self, name: str, args: Sequence[RawValue]) -> None:
        if name.startswith("forbidden"):
            raise ValueError(f"{name} is not allowed")


@workflow.defn
class LateHandlers:
    """Sets its dynamic handlers while it runs: signals that came first wait for them."""

    def __init__(self) -> None:
        self.heard: list[str] = []
        self.closed = False

    @workflow.run
    async def run(self) -> list[str]:
        assert workflow.get_dynamic_signal_handler() is None
        workflow.set_dynamic_signal_handler(self._signal)
        workflow.set_dynamic_query_handler(self._query)
        workflow.set_dynamic_update_handler(self._update, validator=self._validate)
        # The named getters never return the dynamic handler.
        assert workflow.get_signal_handler("early") is None
        assert workflow.get_dynamic_signal_handler() == self._signal
        assert workflow.get_dynamic_update_handler() == self._update
        await workflow.wait_condition(lambda: self.closed)
        workflow.set_dynamic_signal_handler(None)
        assert workflow.get_dynamic_signal_handler() is None
        return self.heard

    def _signal(self, name: str, args: Sequence[RawValue]) -> None:
        if name == "close":
            self.closed = True
        else:
            self.heard.extend(f"{name}={text}" for text in _texts(args))

    def _query(self, name: str, args: Sequence[RawValue]) -> str:
        return f"{name}: {self.heard}"

    def _update(self, name: str, args: Sequence[RawValue]) -> int:
        self.heard.append(name)
        return len(self.heard)

    def _validate(self, name: str, args: Sequence[RawValue]) -> None:
        if not args:
            raise ValueError(f"{name} needs an argument")


DYNAMIC_WORKFLOWS: list[type] = [AnyWorkflow, Inbox, LateHandlers]
