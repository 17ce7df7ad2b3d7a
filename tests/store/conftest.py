"""The store conformance suite: every operation of the store protocol, each test asserting
the operation's contract (what it returns, the state and events it leaves), on SQLite and
PostgreSQL. Any other implementation of the protocol must pass it too."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select

from turnout.contracts.states import RunState
from turnout.executors.internal.migrate import create_schema_async
from turnout.executors.internal.schema import queue_items, runs
from turnout.executors.internal.store import (
    ClaimedItem,
    ClaimParams,
    StartParams,
    Store,
    open_store,
)

QUEUE = "conformance"


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    """A store on a fresh database of each kind, its schema created."""
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    async with opened(str(request.getfixturevalue(fixture))) as s:
        yield s


@contextlib.asynccontextmanager
async def opened(url: str) -> AsyncIterator[Store]:
    """A store on the database at ``url``, its schema created; closed after the block."""
    s = open_store(url)
    try:
        await create_schema_async(s.engine)
        yield s
    finally:
        await s.close()


async def start(store: Store, workflow_id: str = "wf", **extra: Any) -> str:
    """A started run's id."""
    params = StartParams(
        workflow_id=workflow_id, workflow_type="Flow", task_queue=QUEUE, input=[1], **extra
    )
    return (await store.start_workflow(params)).run_id


async def claim_task(store: Store, owner: str = "w1") -> ClaimedItem:
    """The one ready workflow task, claimed by ``owner``."""
    (item,) = await store.claim(
        ClaimParams(QUEUE, owner, workflow_tasks=1, activities=0, workflow_lease=30)
    )
    return item


async def item_state(store: Store, item_id: int) -> str | None:
    """A queue item's state (None: gone)."""
    async with store.reader.connect() as conn:
        value = (
            await conn.execute(select(queue_items.c.state).where(queue_items.c.id == item_id))
        ).scalar_one_or_none()
    return None if value is None else str(value)


async def items_of(store: Store, run_id: str) -> list[Any]:
    """A run's queue items, in id order."""
    async with store.reader.connect() as conn:
        return list(
            await conn.execute(
                select(queue_items).where(queue_items.c.run_id == run_id).order_by(queue_items.c.id)
            )
        )


async def run_state(store: Store, run_id: str) -> RunState:
    """A run's state."""
    async with store.reader.connect() as conn:
        value = (
            await conn.execute(select(runs.c.state).where(runs.c.run_id == run_id))
        ).scalar_one()
    return RunState(value)


async def types(store: Store, run_id: str, after_seq: int = 0) -> list[str]:
    """The event types of a run after ``after_seq``, in seq order."""
    return [e.type.value for e in await store.events("default", run_id, after_seq)]
