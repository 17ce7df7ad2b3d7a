"""Property-based tests of the queue against the real store.

The queue is driven by Hypothesis's stateful testing against the real store (SQLite,
and PostgreSQL with fewer examples): several workers (identities, each with its own
store) claim, heartbeat, complete and fail items, leases are expired by moving them
into the past with SQL and reaping, runs are canceled and terminated, and stale
holders keep writing as stragglers do. After every step the database must agree with
a model of who holds what: never two winners for one item, a write from a holder
that lost its item changes nothing, terminal runs stay final, every run's seqs are
1..n, and every completion is recorded at most once. The run state machine's
properties are in test_properties_states.py.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import select, update

from turnout.contracts.errors import Failure
from turnout.contracts.events import EventType
from turnout.contracts.records import QueueItemKind, QueueItemState
from turnout.contracts.states import (
    TERMINAL_STATES,
    RunState,
)
from turnout.executors.internal import commands as cmd
from turnout.executors.internal.migrate import create_schema_async
from turnout.executors.internal.reaper import reap_once
from turnout.executors.internal.schema import events, queue_items, runs
from turnout.executors.internal.store import (
    ClaimedItem,
    ClaimParams,
    FailActivityParams,
    StaleTaskError,
    StartParams,
    Store,
    WorkflowTaskCommit,
    open_store,
)
from turnout.executors.internal.store.base import utcnow

TENANT = "default"
WORKERS = ("worker-a", "worker-b", "worker-c")
_WFT = QueueItemKind.WORKFLOW_TASK.value
_ACT = QueueItemKind.ACTIVITY_TASK.value
_LEASED = (QueueItemState.CLAIMED.value, QueueItemState.RUNNING.value)
_TERMINAL = {s.value for s in TERMINAL_STATES}


# --------------------------------------------------------------------------- the queue


@dataclass
class QueueEnv:
    """The database and the per-worker stores one stateful test runs against."""

    runner: asyncio.Runner
    stores: dict[str, Store]
    admin: Store

    def run(self, coro: Any) -> Any:
        return self.runner.run(asyncio.wait_for(coro, 60))


@dataclass
class RunModel:
    run_id: str
    next_activity: int = 1
    state: str | None = None
    """Terminal state, once the model has closed the run."""
    cancel_requested: bool = False


@dataclass
class Claim:
    """One claim a worker won: the item it holds, until it ends or loses it."""

    item: ClaimedItem

    def __repr__(self) -> str:  # short, for Hypothesis's failing-example printout
        return f"Claim({self.item.kind} {self.item.id} attempt {self.item.attempt})"


@dataclass
class Model:
    runs: dict[str, RunModel] = field(default_factory=dict)
    held: dict[int, Claim] = field(default_factory=dict)
    """Item id -> the claim that holds it now."""
    won: set[tuple[int, int]] = field(default_factory=set)
    """Every (item id, attempt) a claim ever returned."""
    frozen: dict[str, tuple[str, int]] = field(default_factory=dict)
    """Closed run -> (state, number of events) when first seen closed."""

    def current(self, claim: Claim) -> bool:
        return self.held.get(claim.item.id) is claim


RETRY_POLICY = {"initial_interval": 0.001, "backoff_coefficient": 1.0, "maximum_attempts": 3}


def queue_machine(env: QueueEnv) -> type[RuleBasedStateMachine]:
    """A state machine class bound to ``env`` (one database for every example)."""

    class QueueMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.queue = f"q-{uuid.uuid4().hex[:10]}"
            self.model = Model()
            self.claims: list[Claim] = []
            """Every claim ever won: held ones, and stragglers that lost their item."""

        def pick(self, data: Any, kind: str | None = None) -> Claim:
            """Mostly a claim that holds its item; now and then any claim, maybe a straggler
            that lost its item (to the reaper, to another worker) and writes anyway."""
            held = [c for c in self.model.held.values() if kind in (None, c.item.kind)]
            held.sort(key=_by_item)
            if data.draw(st.integers(0, 3), label="held or any") > 0:
                return data.draw(st.sampled_from(held), label="held claim")
            every = [c for c in self.claims if kind in (None, c.item.kind)]
            return data.draw(st.sampled_from(every), label="any claim")

        def holding(self, kind: str | None = None) -> bool:
            return any(kind in (None, c.item.kind) for c in self.model.held.values())

        # -- setup -----------------------------------------------------------------------
        @initialize(n=st.integers(min_value=2, max_value=4))
        def start_runs(self, n: int) -> None:
            for i in range(n):
                started = env.run(
                    env.admin.start_workflow(
                        StartParams(
                            workflow_id=f"{self.queue}-{i}",
                            workflow_type="Prop",
                            task_queue=self.queue,
                            input=[i],
                        )
                    )
                )
                self.model.runs[started.run_id] = RunModel(started.run_id)

        # -- claims ----------------------------------------------------------------------
        @rule(
            worker=st.sampled_from(WORKERS),
            limits=st.sampled_from([(1, 0), (0, 1), (1, 1), (2, 2)]),
        )
        def claim(self, worker: str, limits: tuple[int, int]) -> None:
            workflow_tasks, activities = limits
            items = env.run(
                env.stores[worker].claim(
                    ClaimParams(
                        self.queue,
                        worker,
                        workflow_tasks=workflow_tasks,
                        activities=activities,
                        workflow_lease=600.0,
                    )
                )
            )
            assert sum(i.kind == _WFT for i in items) <= workflow_tasks
            assert sum(i.kind == _ACT for i in items) <= activities
            for item in items:
                # Never two winners: nobody holds it, and this attempt was never won before.
                assert item.id not in self.model.held, (item, self.model.held[item.id])
                assert (item.id, item.attempt) not in self.model.won, item
                assert item.lease_owner == worker
                claim = Claim(item)
                self.model.held[item.id] = claim
                self.model.won.add((item.id, item.attempt))
                self.claims.append(claim)

        # -- writes by holders (current or stale) ------------------------------------------
        @precondition(lambda self: self.holding())
        @rule(data=st.data())
        def complete(self, data: Any) -> None:
            claim = self.pick(data)
            item, current = claim.item, self.model.current(claim)
            run = self.model.runs[item.run_id]
            if item.kind == _ACT:
                before = self._item_row(item.id)
                ok = env.run(env.stores[item.lease_owner].complete_activity(item, {"r": item.id}))
                assert ok is current, (claim, current)
                if ok:
                    del self.model.held[item.id]
                else:
                    assert self._item_row(item.id) == before  # a straggler changes nothing
                return
            choice = data.draw(st.sampled_from(["nothing", "schedule", "complete"]), label="wft")
            commands: list[Any] = []
            if choice == "schedule":
                seqs = range(run.next_activity, run.next_activity + data.draw(st.integers(1, 2)))
                commands = [_schedule(seq, self.queue) for seq in seqs]
            elif choice == "complete":
                commands = [cmd.CompleteWorkflow(result=item.run_id)]
            row = self._run_row(item.run_id)
            store = env.stores[item.lease_owner]
            before = self._item_row(item.id)
            try:
                env.run(
                    store.commit_workflow_task(
                        WorkflowTaskCommit(
                            item,
                            expected_task_count=row.workflow_task_count,
                            processed_through=row.next_seq - 1,
                            time=utcnow(),
                            commands=commands,
                        )
                    )
                )
            except StaleTaskError:
                # Lost the lease, or the run closed meanwhile: the worker ends the task.
                assert not current or run.state is not None, (claim, run)
                env.run(store.abandon_workflow_task(item))
                if current:
                    del self.model.held[item.id]
                else:
                    assert self._item_row(item.id) == before  # a straggler changes nothing
                return
            assert current, f"{claim} committed without holding its item"
            assert run.state is None, f"{claim} committed on closed run {run}"
            del self.model.held[item.id]
            if choice == "schedule":
                run.next_activity += len(commands)
            elif choice == "complete":
                run.state = RunState.COMPLETED.value

        @precondition(lambda self: self.holding())
        @rule(data=st.data(), retry=st.booleans())
        def fail(self, data: Any, retry: bool) -> None:
            claim = self.pick(data)
            item, current = claim.item, self.model.current(claim)
            store = env.stores[item.lease_owner]
            before = self._item_row(item.id)
            failure = Failure(kind="application", message="it broke", type="Broken")
            if item.kind == _ACT:
                ok = env.run(
                    store.fail_activity(
                        item,
                        failure,
                        FailActivityParams(retry_in=0.0 if retry else None, dead=True),
                    )
                )
                assert ok is current, (claim, current)
            else:
                env.run(store.fail_workflow_task(item, failure, retry_in=0.0))
            after = self._item_row(item.id)
            if current:
                assert after.lease_owner is None, after
                del self.model.held[item.id]
            else:
                assert after == before

        @precondition(lambda self: self.holding(_ACT))
        # Text the boundary accepts: NUL is refused before any write (turnout.contracts.limits).
        @rule(data=st.data(), details=st.text(st.characters(exclude_characters="\x00"), max_size=8))
        def heartbeat(self, data: Any, details: str) -> None:
            claim = self.pick(data, _ACT)
            item, current = claim.item, self.model.current(claim)
            before = self._item_row(item.id)
            cancel = env.run(
                env.stores[item.lease_owner].heartbeat(
                    item, [details], utcnow() + timedelta(seconds=600)
                )
            )
            after = self._item_row(item.id)
            if current and self.model.runs[item.run_id].state is None:
                assert after.heartbeat_details == [details]
                assert cancel is bool(after.cancel_requested)
            else:
                # The item is gone, or its run closed: nothing written, and the activity
                # is told to stop.
                assert cancel is True
                assert after == before

        # -- the clock and the reaper ------------------------------------------------------
        @precondition(lambda self: self.model.held)
        @rule(data=st.data())
        def expire(self, data: Any) -> None:
            held = sorted(self.model.held.values(), key=_by_item)
            claim = data.draw(st.sampled_from(held), label="held claim")
            item = claim.item
            env.run(self._expire(item.id))
            moved = env.run(reap_once(env.admin))
            env.run(self._due_now(item.id))
            assert moved >= 1
            after = self._item_row(item.id)
            assert (after.lease_owner, after.attempt) != (item.lease_owner, item.attempt)
            assert after.state not in _LEASED or after.attempt > item.attempt
            del self.model.held[item.id]

        # -- steering runs -----------------------------------------------------------------
        @rule(data=st.data(), how=st.sampled_from(["cancel", "cancel", "cancel", "terminate"]))
        def cancel(self, data: Any, how: str) -> None:
            # Runs in start order: the draw must pick the same run whenever it is replayed.
            run = data.draw(st.sampled_from(list(self.model.runs.values())), label="run")
            if how == "terminate":
                ok = env.run(env.admin.terminate(TENANT, run.run_id, "property test"))
                assert ok is (run.state is None), run
                if ok:
                    run.state = RunState.TERMINATED.value
            else:
                ok = env.run(env.admin.request_cancel(TENANT, run.run_id))
                assert ok is (run.state is None or run.cancel_requested), run
                run.cancel_requested = run.cancel_requested or (ok and run.state is None)

        # -- what must always hold ------------------------------------------------------------
        @invariant()
        def database_agrees_with_the_model(self) -> None:
            if not self.model.runs:
                return
            items, run_rows, timeline = env.run(self._read_all())
            # Who holds what: exactly the model's current claims, no one else.
            leased = {r.id: (r.lease_owner, r.attempt) for r in items if r.state in _LEASED}
            assert leased == {
                i: (c.item.lease_owner, c.item.attempt) for i, c in self.model.held.items()
            }
            by_run: dict[str, list[Any]] = {run_id: [] for run_id in self.model.runs}
            for event in timeline:
                by_run[event.run_id].append(event)
            for row in run_rows:
                seqs = [e.seq for e in by_run[row.run_id]]
                assert seqs == list(range(1, len(seqs) + 1)), (row.run_id, seqs)
                assert row.next_seq == len(seqs) + 1
                model = self.model.runs[row.run_id]
                assert (row.state in _TERMINAL) is (model.state is not None), (row.state, model)
                if model.state is not None:
                    assert row.state == model.state
                    # Final: once closed, nothing moves the state or adds to the timeline.
                    seen = self.model.frozen.setdefault(row.run_id, (row.state, len(seqs)))
                    assert seen == (row.state, len(seqs)), (row.run_id, seen)
                types = [EventType(e.type) for e in by_run[row.run_id]]
                attrs = [e.attributes for e in by_run[row.run_id]]
                completions = Counter(
                    a["activity_seq"]
                    for t, a in zip(types, attrs, strict=True)
                    if t is EventType.ACTIVITY_COMPLETED
                )
                starts = Counter(
                    (a["activity_seq"], a["attempt"])
                    for t, a in zip(types, attrs, strict=True)
                    if t is EventType.ACTIVITY_STARTED
                )
                assert all(n == 1 for n in completions.values()), completions
                assert all(n == 1 for n in starts.values()), starts
                assert types.count(EventType.WORKFLOW_COMPLETED) <= 1

        # -- helpers ---------------------------------------------------------------------
        def _item_row(self, item_id: int) -> Any:
            return env.run(self._select_item(item_id))

        async def _select_item(self, item_id: int) -> Any:
            async with env.admin.reader.connect() as conn:
                return (
                    await conn.execute(select(queue_items).where(queue_items.c.id == item_id))
                ).one()

        def _run_row(self, run_id: str) -> Any:
            async def read() -> Any:
                async with env.admin.reader.connect() as conn:
                    return (await conn.execute(select(runs).where(runs.c.run_id == run_id))).one()

            return env.run(read())

        async def _expire(self, item_id: int) -> None:
            async with env.admin.engine.begin() as conn:
                await conn.execute(
                    update(queue_items)
                    .where(queue_items.c.id == item_id)
                    .values(lease_expires_at=utcnow() - timedelta(hours=1))
                )

        async def _due_now(self, item_id: int) -> None:
            """Move the clock past the retry's backoff: the example does not depend on
            how fast it runs."""
            async with env.admin.engine.begin() as conn:
                await conn.execute(
                    update(queue_items)
                    .where(
                        queue_items.c.id == item_id,
                        queue_items.c.state == QueueItemState.QUEUED.value,
                    )
                    .values(available_at=utcnow() - timedelta(hours=1))
                )

        async def _read_all(self) -> tuple[list[Any], list[Any], list[Any]]:
            ids = list(self.model.runs)
            async with env.admin.reader.connect() as conn:
                items = (
                    await conn.execute(
                        select(queue_items).where(queue_items.c.task_queue == self.queue)
                    )
                ).all()
                run_rows = (await conn.execute(select(runs).where(runs.c.run_id.in_(ids)))).all()
                timeline = (
                    await conn.execute(
                        select(events.c.run_id, events.c.seq, events.c.type, events.c.attributes)
                        .where(events.c.run_id.in_(ids))
                        .order_by(events.c.run_id, events.c.seq)
                    )
                ).all()
            return items, run_rows, timeline

    return QueueMachine


def _by_item(claim: Claim) -> int:
    return claim.item.id


def _schedule(seq: int, queue: str) -> cmd.ScheduleActivity:
    return cmd.ScheduleActivity(
        seq=seq,
        activity_id=str(seq),
        activity_type="prop",
        args=[seq],
        task_queue=queue,
        start_to_close_timeout=600.0,
        schedule_to_close_timeout=None,
        heartbeat_timeout=None,
        retry_policy=RETRY_POLICY,
    )


@pytest.fixture
def queue_env(request: pytest.FixtureRequest) -> Iterator[QueueEnv]:
    kind = request.param
    url = str(request.getfixturevalue("sqlite_url" if kind == "sqlite" else "postgres_url"))
    with asyncio.Runner() as runner:
        admin = open_store(url)
        stores = {worker: open_store(url) for worker in WORKERS}
        env = QueueEnv(runner, stores, admin)
        try:
            env.run(create_schema_async(admin.engine))
            yield env
        finally:
            for store in [admin, *stores.values()]:
                env.run(store.close())


@pytest.mark.parametrize(
    ("queue_env", "examples"),
    [
        pytest.param("sqlite", 50, id="sqlite"),
        pytest.param("postgres", 30, id="postgres", marks=pytest.mark.postgres),
    ],
    indirect=["queue_env"],
)
def test_queue_interleavings_keep_the_store_consistent(queue_env: QueueEnv, examples: int) -> None:
    run_state_machine_as_test(
        queue_machine(queue_env),
        settings=settings(
            max_examples=examples,
            stateful_step_count=30,
            # No example database (each example makes its own runs), and no shrinking:
            # replaying against the store is slow, and the steps of a failure are
            # printed in full anyway, within the test's time budget.
            database=None,
            phases=[Phase.explicit, Phase.generate],
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
