"""The store's shape: the protocol it implements, its capabilities, its typed records,
every write through the one transaction helper, and the commit plan (no database)."""

from __future__ import annotations

import inspect
from datetime import timedelta
from typing import Any

import pytest

from tests.store.conftest import QUEUE, claim_task, start
from tests.store.test_workflow_tasks import schedule
from turnout.contracts.states import RunState
from turnout.executors.internal import commands as cmd
from turnout.executors.internal.schema import runs
from turnout.executors.internal.store import (
    ActivityTask,
    ClaimedItem,
    ClaimParams,
    EagerClaim,
    RunSnapshot,
    SignalParams,
    Store,
    WorkflowTaskCommit,
)
from turnout.executors.internal.store.base import utcnow
from turnout.executors.internal.store.commit_plan import plan_commit
from turnout.executors.internal.store.protocol import StoreProtocol
from turnout.executors.internal.store.sql import activity_lease


def test_run_snapshot_fields_are_the_runs_columns_in_order() -> None:
    assert list(RunSnapshot._fields) == [c.name for c in runs.c]


def test_the_store_has_every_operation_of_the_protocol() -> None:
    members = [
        name
        for name, value in vars(StoreProtocol).items()
        if not name.startswith("_") and inspect.iscoroutinefunction(value)
    ]
    assert len(members) > 40
    for name in members:
        assert inspect.iscoroutinefunction(getattr(Store, name)), name
        protocol = inspect.signature(getattr(StoreProtocol, name))
        assert inspect.signature(getattr(Store, name)).parameters.keys() == (
            protocol.parameters.keys()
        ), name


def test_an_operation_with_knobs_takes_one_params_record() -> None:
    """An operation has at most one optional setting of its own; more than one go in a
    params record (records.py), so adding one changes no caller."""
    for name, value in vars(StoreProtocol).items():
        if name.startswith("_") or not inspect.iscoroutinefunction(value):
            continue
        parameters = inspect.signature(value).parameters.values()
        optional = [p.name for p in parameters if p.default is not inspect.Parameter.empty]
        assert len(optional) <= 1, (name, optional)


async def test_capabilities_follow_the_dialect(store: Store) -> None:
    postgres = store.dialect == "postgresql"
    assert (store.supports_listen_notify, store.supports_skip_locked) == (postgres, postgres)
    # SQLite's other processes wake this one once it listens (datagrams, wakeups.py).
    await store.start_listening()
    assert store.supports_listen_notify


@pytest.fixture
def transactions(store: Store, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the functions run through the transaction helper."""
    ran: list[str] = []
    original = store._run_tx

    async def counting(fn: Any, *args: Any, **kwargs: Any) -> Any:
        ran.append(getattr(fn, "__name__", "?"))
        return await original(fn, *args, **kwargs)

    monkeypatch.setattr(store, "_run_tx", counting)
    return ran


async def test_every_write_goes_through_the_transaction_helper(
    store: Store, transactions: list[str]
) -> None:
    run_id = await start(store)
    item = await claim_task(store)
    writes: list[Any] = [
        store.extend_leases(item.lease_owner, [item.id], utcnow() + timedelta(minutes=1)),
        store.abandon_workflow_task(item),
        store.prune_finished(utcnow() + timedelta(seconds=1)),
    ]
    for write in writes:
        before = len(transactions)
        await write
        assert len(transactions) == before + 1
    await store.signal(SignalParams("default", run_id, "poke", []))
    task = await claim_task(store)
    before = len(transactions)
    await store.release([task])
    assert len(transactions) == before + 1
    from tests.store.test_workflow_tasks import commit

    await commit(store, await claim_task(store), [schedule()])
    (act,) = await store.claim(
        ClaimParams(QUEUE, "w1", workflow_tasks=0, activities=1, workflow_lease=30)
    )
    before = len(transactions)
    await store.heartbeat(act, [], utcnow() + timedelta(minutes=1))
    assert len(transactions) == before + 1


def _item(**extra: Any) -> ClaimedItem:
    now = utcnow()
    values: dict[str, Any] = {
        "id": 1,
        "kind": "workflow_task",
        "run_id": "r",
        "workflow_id": "w",
        "tenant_id": "default",
        "task_queue": QUEUE,
        "name": "Flow",
        "ref": None,
        "payload": {},
        "attempt": 1,
        "lease_owner": "w1",
        "lease_expires_at": now,
        "started_at": now,
        "deadline_at": None,
        "heartbeat_details": None,
        "created_at": now,
    }
    return ClaimedItem(**{**values, **extra})


def _snapshot(state: RunState) -> RunSnapshot:
    now = utcnow()
    values: dict[str, Any] = dict.fromkeys(RunSnapshot._fields)
    values.update(
        run_id="r",
        state=state.value,
        workflow_task_count=0,
        input=[],
        requested_at=now,
        updated_at=now,
        next_seq=3,
        cancel_requested=False,
    )
    return RunSnapshot(**values)


def test_plan_of_a_first_task_moves_a_claimed_run_to_running_and_takes_activities() -> None:
    eager = EagerClaim(owner="w1", task_queue=QUEUE, names=frozenset({"act"}), limit=1)
    commit = WorkflowTaskCommit(_item(), 0, 2, utcnow(), [schedule(1), schedule(2)], eager=eager)
    plan = plan_commit(0, commit, _snapshot(RunState.CLAIMED), utcnow())
    assert [t.value for t, _ in plan.specs] == [
        "workflow_task_completed",
        "activity_scheduled",
        "activity_scheduled",
        "state_changed",
        "activity_started",
    ]
    assert plan.values == {
        "workflow_task_count": 1,
        "state": RunState.RUNNING.value,
        "sticky_worker": None,
    }
    assert [a.seq for a in plan.taken] == [1]
    assert plan.close is None


def test_plan_of_a_close_joins_the_append() -> None:
    commit = WorkflowTaskCommit(_item(), 1, 5, utcnow(), [cmd.CompleteWorkflow(result=3)])
    plan = plan_commit(0, commit, _snapshot(RunState.RUNNING), utcnow())
    assert plan.close == (RunState.COMPLETED, 3, None)
    assert plan.values["state"] == RunState.COMPLETED.value
    assert plan.taken == []
    assert [t.value for t, _ in plan.specs][-2:] == ["workflow_completed", "state_changed"]


def test_plan_leaves_a_childs_cancellation_out_of_the_parents_history() -> None:
    cancel = cmd.RequestCancelChild(seq=4, workflow_id="child")
    commit = WorkflowTaskCommit(_item(), 1, 5, utcnow(), [cancel, cmd.CancelTimer(seq=2)])
    plan = plan_commit(0, commit, _snapshot(RunState.RUNNING), utcnow())
    assert [t.value for t, _ in plan.specs] == ["workflow_task_completed", "timer_canceled"]
    assert plan.closing is None


def test_an_activity_tasks_id_reads_whatever_its_options_hold() -> None:
    """The store records an attempt's outcome by its id even when its stored options
    cannot be read; reading them all raises, and its lease is the longest."""
    now = utcnow()
    task = ActivityTask({"activity_id": "a-1", "start_to_close_timeout": "soon"})
    assert task.activity_id == "a-1"
    assert task.heartbeat_timeout is None
    with pytest.raises(ValueError, match="soon"):
        task.read()
    assert activity_lease(task, None, now) - now > timedelta(days=3000)
    deadline = now + timedelta(seconds=5)
    assert activity_lease(task, deadline, now) == deadline
    readable = ActivityTask({"start_to_close_timeout": 9, "heartbeat_timeout": 2.5})
    assert activity_lease(readable.read(), None, now) == now + timedelta(seconds=2.5)
