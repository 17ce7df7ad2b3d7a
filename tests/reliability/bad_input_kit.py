"""What the bad-input tests (``test_bad_input_*.py``) share.

The workflows and activities the bad input is sent to, the ``bad_input_client`` (on
SQLite and PostgreSQL) and ``baseline`` fixtures the test modules import, and
:func:`snapshot`, the rows every test compares before and after the bad input.
"""

from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import BaseModel

import turnout
from turnout import (
    ActivityError,
    Event,
    EventType,
    RetryPolicy,
    RunState,
    activity,
    workflow,
)
from turnout.executors.internal.schema import metadata, runs, tasks

Q = "bad-input"
WAIT = 60.0
"""Seconds any wait of this module may take before the test fails (never a timing check)."""
FAST_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=10), maximum_attempts=3)
SMALL_LIMIT = 4096
"""The payload limit the payload tests set through TURNOUT_MAX_PAYLOAD_BYTES."""

# Text that breaks naive SQL and naive escaping, without NUL (no database stores it in
# text) and, where names must be printable, without control characters.
NASTY = "o'Brien\"; DROP TABLE turnout_runs; -- \\ %s %% {0} $1 ? :name `x` ü 日本 🚂 \u200b"
NASTY_TEXT = NASTY + " \t\n\r tab, newline"
"""For free text (signal arguments, details, reasons), control characters included."""


# --------------------------------------------------------------------------- definitions


class Order(BaseModel):
    order_id: str
    amount: int


def unjson(kind: str) -> Any:
    """A value JSON cannot carry: an arbitrary object, NaN, infinity."""
    return {"object": object(), "nan": math.nan, "inf": math.inf}[kind]


@activity.defn
async def echo(text: str) -> str:
    return text


@activity.defn
async def unstorable(kind: str) -> Any:
    """A result that is not JSON: an arbitrary object, or a float JSON has no word for."""
    return unjson(kind)


@activity.defn
async def big_result(size: int) -> str:
    return "r" * size


@activity.defn
async def record_nasty(name: str, uri: str) -> list[str]:
    artifact = await activity.record_artifact(name, uri, media_type="text/plain")
    return [artifact.name, artifact.uri]


@workflow.defn
class Hello:
    @workflow.run
    async def run(self, name: str) -> str:
        result: str = await workflow.execute_activity(
            echo, f"hello {name}", start_to_close_timeout=timedelta(seconds=30)
        )
        return result


@workflow.defn
class Typed:
    @workflow.run
    async def run(self, n: int, order: Order) -> str:
        return f"{n} {order.order_id}"


@workflow.defn
class Measure:
    @workflow.run
    async def run(self, value: float) -> float:
        return value


@workflow.defn
class CallsByName:
    """Runs the activity named in its input; reports an ActivityError as its result."""

    @workflow.run
    async def run(self, name: str, args: list[Any], attempts: int) -> Any:
        try:
            return await workflow.execute_activity(
                name,
                args=args,
                start_to_close_timeout=timedelta(seconds=5),
                retry_policy=RetryPolicy(
                    initial_interval=timedelta(milliseconds=10), maximum_attempts=attempts
                ),
            )
        except ActivityError as exc:
            cause = exc.cause
            return {
                "error": "ActivityError",
                "retry_state": exc.retry_state.value if exc.retry_state else None,
                "cause_type": getattr(cause, "type", None),
                "cause": str(cause),
            }


@workflow.defn
class Waiter:
    def __init__(self) -> None:
        self.got: list[str] = []

    @workflow.run
    async def run(self) -> list[str]:
        await workflow.wait_condition(lambda: bool(self.got))
        return self.got

    @workflow.signal
    def poke(self, value: str) -> None:
        self.got.append(value)


@workflow.defn
class NanResult:
    @workflow.run
    async def run(self) -> float:
        return math.nan


@workflow.defn
class BigResult:
    @workflow.run
    async def run(self, size: int) -> str:
        return "w" * size


@workflow.defn
class Nasty:
    """Carries NASTY text through every string field a run has."""

    def __init__(self) -> None:
        self.got: list[str] = []

    @workflow.run
    async def run(self, text: str) -> dict[str, Any]:
        await workflow.wait_condition(lambda: bool(self.got))
        decision = await workflow.request_approval(
            NASTY, details={NASTY: text, "list": [text, NASTY_TEXT]}
        )
        artifact = await workflow.execute_activity(
            record_nasty,
            args=[NASTY, f"s3://bucket/{NASTY}"],
            start_to_close_timeout=timedelta(seconds=30),
        )
        return {
            "input": text,
            "signal": self.got,
            "decided_by": decision.decided_by,
            "reason": decision.reason,
            "artifact": artifact,
        }

    @workflow.signal(name=NASTY)
    def nasty_signal(self, value: str) -> None:
        self.got.append(value)


WORKFLOWS = [Hello, Typed, Measure, CallsByName, Waiter, NanResult, BigResult, Nasty]
ACTIVITIES = [echo, unstorable, big_result, record_nasty]


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def bad_input_url(request: pytest.FixtureRequest) -> str:
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(fixture))


@pytest.fixture
async def bad_input_client(bad_input_url: str) -> AsyncIterator[Any]:
    client = await turnout.connect(executor="internal", database_url=bad_input_url)
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
async def baseline(bad_input_client: Any) -> AsyncIterator[list[str]]:
    """A worker on ``Q``, and one run completed before the bad input: its run ids."""
    async with turnout.Worker(
        bad_input_client, task_queue=Q, workflows=WORKFLOWS, activities=ACTIVITIES
    ):
        handle = await bad_input_client.start_workflow(
            Hello.run, "before", id=new_id("before"), task_queue=Q
        )
        assert await handle.result(timeout=timedelta(seconds=WAIT)) == "hello before"
        yield [handle.result_run_id]


def new_id(prefix: str) -> str:
    """A fresh workflow id starting with ``prefix``."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def snapshot(client: Any, run_ids: Sequence[str] | None = None) -> dict[str, Any]:
    """Every row of every turnout table (or only those of ``run_ids``' runs), in order."""
    out: dict[str, Any] = {}
    async with client.store.reader.connect() as conn:
        workflow_ids: list[str] = []
        if run_ids is not None:
            workflow_ids = list(
                (
                    await conn.execute(
                        sa.select(runs.c.workflow_id).where(runs.c.run_id.in_(run_ids))
                    )
                ).scalars()
            )
        for table in metadata.sorted_tables:
            stmt = sa.select(table).order_by(*table.primary_key.columns)
            if run_ids is not None:
                if "run_id" in table.c:
                    stmt = stmt.where(table.c.run_id.in_(run_ids))
                elif table is tasks:
                    stmt = stmt.where(table.c.workflow_id.in_(workflow_ids))
            out[table.name] = [tuple(row) for row in (await conn.execute(stmt)).all()]
    return out


async def events_until(handle: Any, etype: EventType, count: int = 1) -> list[Event]:
    """The run's timeline once it holds ``count`` events of type ``etype`` (bounded)."""
    async with asyncio.timeout(WAIT):
        while True:
            timeline: list[Event] = await handle.events()
            if sum(e.type is etype for e in timeline) >= count:
                return timeline
            await asyncio.sleep(0.05)


async def wait_state(handle: Any, state: RunState) -> None:
    """Wait until the run is in ``state`` (bounded)."""
    async with asyncio.timeout(WAIT):
        while (await handle.describe()).state is not state:
            await asyncio.sleep(0.05)
