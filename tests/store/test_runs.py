"""Conformance: starting, reading and steering runs."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from sqlalchemy import event

from tests.store.conftest import QUEUE, claim_task, items_of, run_state, start, types
from turnout.contracts.errors import WorkflowAlreadyStartedError, WorkflowNotFoundError
from turnout.contracts.records import IdConflictPolicy, QueueItemState, Run
from turnout.contracts.states import RunState
from turnout.executors.internal.migrate import create_schema_async
from turnout.executors.internal.store import (
    RunFilter,
    RunSnapshot,
    SignalParams,
    StartParams,
    Store,
    open_store,
)


async def test_start_creates_a_queued_run_its_first_event_and_task(store: Store) -> None:
    result = await store.start_workflow(
        StartParams(workflow_id="a", workflow_type="Flow", task_queue=QUEUE, input=[1, "x"])
    )
    assert result.created
    run = await store.find_run("default", "a")
    assert (run.run_id, run.state, run.workflow_type) == (result.run_id, RunState.QUEUED, "Flow")
    assert await types(store, result.run_id) == ["workflow_started"]
    (item,) = await items_of(store, result.run_id)
    assert (item.kind, item.state) == ("workflow_task", QueueItemState.QUEUED.value)
    assert await store.run_input("default", result.run_id) == [1, "x"]


async def test_start_of_an_open_id_is_refused_or_reuses_the_run(store: Store) -> None:
    run_id = await start(store, "dup")
    with pytest.raises(WorkflowAlreadyStartedError):
        await start(store, "dup")
    reused = await store.start_workflow(
        StartParams(
            workflow_id="dup",
            workflow_type="Flow",
            task_queue=QUEUE,
            input=[],
            id_conflict_policy=IdConflictPolicy.USE_EXISTING,
        )
    )
    assert (reused.run_id, reused.created) == (run_id, False)


async def test_start_with_an_idempotency_key_starts_once(store: Store) -> None:
    first = await start(store, "k1", idempotency_key="key")
    again = await store.start_workflow(
        StartParams(
            workflow_id="k2",
            workflow_type="Flow",
            task_queue=QUEUE,
            input=[],
            idempotency_key="key",
        )
    )
    assert (again.run_id, again.created) == (first, False)


async def test_start_workflows_returns_each_start_or_its_own_refusal(store: Store) -> None:
    taken = await start(store, "taken")
    one_by_one: list[str] = []
    start_workflow = store.start_workflow

    async def alone(p: StartParams) -> Any:
        one_by_one.append(p.workflow_id)
        return await start_workflow(p)

    store.start_workflow = alone  # type: ignore[method-assign]
    results = await store.start_workflows(
        [
            StartParams(workflow_id=w, workflow_type="Flow", task_queue=QUEUE, input=[])
            for w in ("b1", "taken", "b2")
        ]
    )
    assert isinstance(results[1], WorkflowAlreadyStartedError)
    assert [getattr(r, "created", None) for r in results] == [True, None, True]
    assert one_by_one == []  # the open run's id made the batch look first, not go alone
    found = await store.find_runs(
        "default",
        [("b1", results[0].run_id), ("taken", taken), ("nope", "x")],  # type: ignore[union-attr]
    )
    assert [f.workflow_id if isinstance(f, Run) else None for f in found] == ["b1", "taken", None]
    assert isinstance(found[2], WorkflowNotFoundError)


async def test_start_workflows_under_default_policies_refuse_only_an_open_run(
    store: Store,
) -> None:
    """Nothing is read before these starts: the index of open runs alone refuses one."""
    closed = await start(store, "closed")
    assert await store.terminate("default", closed, "done with it")
    results = await store.start_workflows(
        [
            StartParams(workflow_id=w, workflow_type="Flow", task_queue=QUEUE, input=[])
            for w in ("closed", "twice", "twice")
        ]
    )
    assert isinstance(results[2], WorkflowAlreadyStartedError)
    assert [getattr(r, "created", None) for r in results] == [True, True, None]
    again = await store.find_run("default", "closed")
    assert again.run_id == results[0].run_id != closed  # type: ignore[union-attr]
    assert again.state is RunState.QUEUED
    assert await run_state(store, closed) is RunState.TERMINATED


async def test_find_run_of_an_unknown_id_raises(store: Store) -> None:
    with pytest.raises(WorkflowNotFoundError):
        await store.find_run("default", "missing")
    with pytest.raises(WorkflowNotFoundError):
        await store.run_input("default", "missing")


async def test_list_runs_newest_first_with_a_keyset_bound(store: Store) -> None:
    ids = [await start(store, f"l{i}") for i in range(3)]
    listed = await store.list_runs("default", RunFilter())
    assert {r.run_id for r in listed} == set(ids)
    assert [r.requested_at for r in listed] == sorted(
        (r.requested_at for r in listed), reverse=True
    )
    last = listed[0]
    rest = await store.list_runs("default", RunFilter(before=(last.requested_at, last.run_id)))
    assert last.run_id not in {r.run_id for r in rest}
    assert len(rest) == 2
    assert await store.list_runs("other-tenant", RunFilter()) == []


async def test_signal_appends_to_an_open_run_and_queues_a_task(store: Store) -> None:
    run_id = await start(store)
    await claim_task(store)
    assert await store.signal(SignalParams("default", run_id, "poke", ["x"]))
    assert (await types(store, run_id))[-1] == "signal_received"
    states = [i.state for i in await items_of(store, run_id)]
    assert states == [QueueItemState.RUNNING.value, QueueItemState.QUEUED.value]
    assert not await store.signal(SignalParams("other-tenant", run_id, "poke", []))
    assert not await store.signal(SignalParams("default", "missing", "poke", []))


async def test_a_signal_naming_the_workflow_id_reaches_only_that_workflows_run(
    store: Store,
) -> None:
    run_id = await start(store, "named")
    assert not await store.signal(
        SignalParams("default", run_id, "poke", [], workflow_id="another")
    )
    assert not await store.signal(
        SignalParams("other-tenant", run_id, "poke", [], workflow_id="named")
    )
    assert (await types(store, run_id))[-1] == "workflow_started"
    assert await store.signal(SignalParams("default", run_id, "poke", ["x"], workflow_id="named"))
    assert (await types(store, run_id))[-1] == "signal_received"
    assert [i.state for i in await items_of(store, run_id)] == [QueueItemState.QUEUED.value]


async def test_a_signal_to_a_workflow_id_reaches_its_open_run_only(store: Store) -> None:
    first = await start(store, "entity")
    assert await store.terminate("default", first, "replaced")
    second = await start(store, "entity")  # the id's open run now

    def to(tenant: str, workflow_id: str) -> SignalParams:
        return SignalParams(tenant, None, "poke", ["x"], workflow_id=workflow_id)

    assert await store.signal(to("default", "entity"))
    assert (await types(store, second))[-1] == "signal_received"
    assert "signal_received" not in await types(store, first)
    assert [i.state for i in await items_of(store, second)] == [QueueItemState.QUEUED.value]
    assert not await store.signal(to("other-tenant", "entity"))
    assert not await store.signal(to("default", "nobody"))
    assert await store.terminate("default", second, "done")
    assert not await store.signal(to("default", "entity"))  # no open run left
    with pytest.raises(ValueError, match="names its run, its workflow id"):
        await store.signal(SignalParams("default", None, "poke", []))


async def test_request_cancel_records_once(store: Store) -> None:
    run_id = await start(store)
    assert await store.request_cancel("default", run_id)
    assert await store.request_cancel("default", run_id)
    assert (await types(store, run_id)).count("workflow_cancel_requested") == 1
    assert not await store.request_cancel("default", "missing")


async def test_terminate_closes_the_run_and_its_items(store: Store) -> None:
    run_id = await start(store)
    assert await store.terminate("default", run_id, "enough")
    assert await run_state(store, run_id) is RunState.TERMINATED
    assert (await types(store, run_id))[-2:] == ["workflow_terminated", "state_changed"]
    assert [i.state for i in await items_of(store, run_id)] == [QueueItemState.CANCELED.value]
    assert not await store.terminate("default", run_id, None)
    run = await store.find_run("default", "wf")
    assert run.failure is not None
    assert run.failure.message == "enough"


async def test_load_histories_returns_snapshots_and_events_after_each_seq(store: Store) -> None:
    first, second = await start(store, "h1"), await start(store, "h2")
    await store.signal(SignalParams("default", second, "poke", []))
    loaded = await store.load_histories([(first, 0), (second, 1), ("missing", 0)])
    (snap1, events1), (snap2, events2) = loaded[0], loaded[1]  # type: ignore[misc]
    assert isinstance(snap1, RunSnapshot)
    assert isinstance(snap2, RunSnapshot)
    assert (snap1.run_id, snap1.workflow_id, snap1.state, snap1.workflow_task_count) == (
        first,
        "h1",
        RunState.QUEUED.value,
        0,
    )
    assert list(snap1.input) == [1]
    assert snap1.workflow_type == "Flow"
    assert [e.seq for e in events1] == [1]
    assert [e.type.value for e in events2] == ["signal_received"]
    assert isinstance(loaded[2], LookupError)
    snap, events = await store.load_history(first, 0)
    assert snap == snap1
    assert events == events1
    with pytest.raises(LookupError):
        await store.load_history("missing", 0)


async def test_next_run_is_none_without_continue_as_new(store: Store) -> None:
    run_id = await start(store)
    assert await store.next_run("default", run_id) is None


@pytest.mark.postgres
async def test_a_keyed_start_that_commits_between_the_two_reads_of_another_is_its_answer(
    postgres_url: str,
) -> None:
    """Two starts with one key and one workflow id: the second reads the key (not there
    yet), the first commits, the second reads the id (an open run now). The first run is
    the second's answer, not a conflict. PostgreSQL only: on SQLite a start holds the
    write lock from its first read, so no other start commits in between."""
    store = open_store(postgres_url)
    await create_schema_async(store.engine)
    try:
        await _race_two_keyed_starts(store, open_store(postgres_url))
    finally:
        await store.close()


async def _race_two_keyed_starts(store: Store, other: Store) -> None:
    params = StartParams(
        workflow_id="keyed", workflow_type="Flow", task_queue=QUEUE, input=[], idempotency_key="k"
    )
    first: list[str] = []

    def start_the_other_now(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        # Right after this start's key lookup, the other start runs to its commit (on its
        # own connections and loop, in a thread: this loop is inside a statement).
        if first or "idempotency_key" not in statement or not statement.startswith("SELECT"):
            return
        done = threading.Thread(
            target=lambda: first.append(asyncio.run(_start_and_close(other, params)))
        )
        done.start()
        done.join(timeout=30)
        assert first, "the other start did not finish"

    event.listen(store.engine.sync_engine, "after_cursor_execute", start_the_other_now)
    try:
        answer = await store.start_workflow(params)
    finally:
        event.remove(store.engine.sync_engine, "after_cursor_execute", start_the_other_now)
    assert (answer.run_id, answer.created) == (first[0], False)


async def _start_and_close(store: Store, params: StartParams) -> str:
    try:
        return (await store.start_workflow(params)).run_id
    finally:
        await store.close()


async def test_values_read_back_are_not_kept_between_reads(store: Store) -> None:
    """A JSON value read from the database is a fresh object at each read: no cache of
    the process keeps the values of rows already read (ids, payloads) alive."""
    value = "a-value-of-one-run-0123456789abc"
    params = StartParams(workflow_id="fresh", workflow_type="Flow", task_queue=QUEUE, input=[value])
    run_id = (await store.start_workflow(params)).run_id
    (first,) = await store.run_input("default", run_id)
    (second,) = await store.run_input("default", run_id)
    assert first == second == value
    assert first is not second
