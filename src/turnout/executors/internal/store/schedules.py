"""Schedules in the database: keeping them, and acting on their fires.

A fire is acted on in the transaction that holds the schedule's row (``FOR UPDATE`` on
PostgreSQL, the one writer on SQLite) and moves its ``processed_until`` past the fire,
so however many workers look, a fire is acted on once; the run it starts carries an
idempotency key of the schedule and the fire time besides, so a fire never starts two
runs. Each start is a savepoint of its own: a start the database refuses is recorded in
the schedule's info and harms neither the schedule nor other runs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from turnout.contracts.errors import Failure
from turnout.contracts.events import EventType
from turnout.contracts.limits import InvalidInputError
from turnout.contracts.schedule_codec import (
    DEFAULT_CATCHUP_WINDOW,
    schedule_from_json,
    scheduled_workflow_id,
)
from turnout.contracts.schedule_times import fire_times, jittered, next_fire
from turnout.contracts.schedules import (
    Schedule,
    ScheduleAlreadyRunningError,
    ScheduleNotFoundError,
    ScheduleOverlapPolicy,
)
from turnout.contracts.states import ACTIVE_STATES, RunState
from turnout.executors.internal.schema import runs, schedules
from turnout.executors.internal.store.records import ScheduleChange, StartParams
from turnout.executors.internal.store.runs import RunOperations
from turnout.executors.internal.store.sql import utcnow
from turnout.executors.internal.store.tx import Tx

__all__ = ["ScheduleOperations", "ScheduleRecord"]

_log = logging.getLogger("turnout.schedules")

RECENT_ACTIONS = 10
"""How many of its latest actions a schedule keeps in its info."""
FIRES_PER_PASS = 1000
"""The most fire times one pass acts on for one schedule (a long downtime's catch-up goes
on in the next pass)."""
RECHECK = timedelta(seconds=1)
"""How soon a schedule waiting on a run (a buffered start, a pending cancel, a failure
that pauses it) is looked at again."""
_FAILED = {RunState.FAILED.value, RunState.TIMED_OUT.value}


def _empty_info() -> dict[str, Any]:
    return {"num_actions": 0, "missed": 0, "skipped": 0, "recent": [], "running": [], "buffer": []}


@dataclass(frozen=True)
class ScheduleRecord:
    """A stored schedule and what it has done."""

    schedule_id: str
    tenant_id: str
    schedule: Schedule
    stored: dict[str, Any]
    paused: bool
    due_at: datetime | None
    info: dict[str, Any]
    memo: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime


def _record(row: Any) -> ScheduleRecord:
    stored = dict(row.schedule)
    stored["state"] = {**stored["state"], "paused": row.paused}
    return ScheduleRecord(
        schedule_id=row.schedule_id,
        tenant_id=row.tenant_id,
        schedule=schedule_from_json(stored),
        stored=stored,
        paused=row.paused,
        due_at=row.due_at,
        info=dict(row.info),
        memo=row.memo,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _due(
    schedule: Schedule, schedule_id: str, after: datetime, info: dict[str, Any], now: datetime
) -> datetime | None:
    """When the scheduler must look at the schedule next."""
    state = schedule.state
    nominal = next_fire(schedule.spec, after)
    exhausted = state.limited_actions and state.remaining_actions <= 0
    due = None if nominal is None or exhausted else jittered(schedule.spec, schedule_id, nominal)
    waiting = info["buffer"] or (schedule.policy.pause_on_failure and info["running"])
    if waiting:
        due = min(due, now + RECHECK) if due is not None else now + RECHECK
    return due


class ScheduleOperations(RunOperations):
    """Keep schedules and act on their fires."""

    async def create_schedule(
        self,
        tenant_id: str,
        schedule_id: str,
        stored: dict[str, Any],
        memo: dict[str, Any] | None = None,
    ) -> None:
        """Keep a new schedule; ScheduleAlreadyRunningError when the id is taken."""
        now = utcnow()
        schedule = schedule_from_json(stored)
        info = _empty_info()
        row = {
            "tenant_id": tenant_id,
            "schedule_id": schedule_id,
            "schedule": stored,
            "paused": schedule.state.paused,
            "due_at": _due(schedule, schedule_id, now, info, now),
            "processed_until": now,
            "info": info,
            "memo": memo or None,
            "created_at": now,
            "updated_at": now,
        }

        async def tx_fn(conn: AsyncConnection, tx: Tx) -> None:
            await conn.execute(insert(schedules), [row])

        try:
            await self._run_tx(tx_fn)
        except IntegrityError:
            raise ScheduleAlreadyRunningError(schedule_id) from None

    def _key(self, tenant_id: str, schedule_id: str) -> list[Any]:
        return [schedules.c.tenant_id == tenant_id, schedules.c.schedule_id == schedule_id]

    async def get_schedule(self, tenant_id: str, schedule_id: str) -> ScheduleRecord:
        """The stored schedule; ScheduleNotFoundError when the tenant has none of that id."""
        async with self.reader.connect() as conn:
            row = (
                await conn.execute(select(schedules).where(*self._key(tenant_id, schedule_id)))
            ).first()
            if row is None:
                raise ScheduleNotFoundError(schedule_id)
            record = _record(row)
            open_ids = await self._open(conn, [r["run_id"] for r in record.info["running"]])
        record.info["running"] = [r for r in record.info["running"] if r["run_id"] in open_ids]
        return record

    async def list_schedules(self, tenant_id: str) -> list[ScheduleRecord]:
        """The tenant's schedules, by id."""
        stmt = (
            select(schedules)
            .where(schedules.c.tenant_id == tenant_id)
            .order_by(schedules.c.schedule_id)
        )
        async with self.reader.connect() as conn:
            return [_record(row) for row in (await conn.execute(stmt)).all()]

    async def delete_schedule(self, tenant_id: str, schedule_id: str) -> None:
        """Forget the schedule (the runs it started go on); ScheduleNotFoundError if none."""

        async def tx_fn(conn: AsyncConnection, tx: Tx) -> int:
            return (
                await conn.execute(delete(schedules).where(*self._key(tenant_id, schedule_id)))
            ).rowcount

        if not await self._run_tx(tx_fn):
            raise ScheduleNotFoundError(schedule_id)

    async def change_schedule(
        self, tenant_id: str, schedule_id: str, change: ScheduleChange
    ) -> None:
        """Replace the schedule (``stored``), or pause or unpause it with a note; the
        fires it has acted on stay acted on, and a fire missed while paused is not acted
        on after (as on Temporal)."""

        async def tx_fn(conn: AsyncConnection, tx: Tx) -> None:
            row = await self._locked(conn, tenant_id, schedule_id)
            now = utcnow()
            new = dict(change.stored or row.schedule)
            state = dict(new["state"])
            if change.paused is not None:
                state["paused"] = change.paused
                state["note"] = change.note if change.note is not None else state.get("note")
            new["state"] = state
            schedule = schedule_from_json(new)
            resumed = row.paused and not schedule.state.paused
            # Neither a resumed nor a changed schedule acts on fires from before now (as
            # on Temporal): only fires to come, and manual actions.
            after = now if resumed or change.stored else row.processed_until
            await conn.execute(
                update(schedules)
                .where(*self._key(tenant_id, schedule_id))
                .values(
                    schedule=new,
                    paused=schedule.state.paused,
                    processed_until=after,
                    due_at=_due(schedule, schedule_id, after, row.info, now),
                    updated_at=now,
                )
            )

        await self._run_tx(tx_fn)

    async def _locked(self, conn: AsyncConnection, tenant_id: str, schedule_id: str) -> Any:
        row = (
            await conn.execute(
                select(schedules).where(*self._key(tenant_id, schedule_id)).with_for_update()
            )
        ).first()
        if row is None:
            raise ScheduleNotFoundError(schedule_id)
        return row

    async def _open(self, conn: AsyncConnection, run_ids: list[str]) -> set[str]:
        if not run_ids:
            return set()
        stmt = select(runs.c.run_id).where(
            runs.c.run_id.in_(run_ids), runs.c.state.in_([s.value for s in ACTIVE_STATES])
        )
        return set((await conn.execute(stmt)).scalars())

    async def defer_schedule(self, tenant_id: str, schedule_id: str, until: datetime) -> None:
        """Leave a schedule alone until ``until`` (its pass failed): the schedules due
        after it are looked at first."""

        async def tx_fn(conn: AsyncConnection, tx: Tx) -> None:
            await conn.execute(
                update(schedules).where(*self._key(tenant_id, schedule_id)).values(due_at=until)
            )

        await self._run_tx(tx_fn)

    async def due_schedules(self, now: datetime, limit: int = 100) -> list[tuple[str, str]]:
        """(tenant, schedule id) of the active schedules due by ``now``, the oldest first."""
        stmt = (
            select(schedules.c.tenant_id, schedules.c.schedule_id)
            .where(schedules.c.paused.is_(False), schedules.c.due_at <= now)
            .order_by(schedules.c.due_at)
            .limit(limit)
        )
        async with self.reader.connect() as conn:
            return [(t, s) for t, s in (await conn.execute(stmt)).all()]

    async def fire_schedule(self, tenant_id: str, schedule_id: str) -> int:
        """Act on the schedule's fires due by now (catching up within its window); how
        many runs it started."""
        return int(await self._run_tx(self._fire_tx, tenant_id, schedule_id, None, None))

    async def trigger_schedule(
        self, tenant_id: str, schedule_id: str, overlap: ScheduleOverlapPolicy | None = None
    ) -> int:
        """Act now, once, as a fire would (``overlap`` overrides the policy's)."""
        return int(
            await self._run_tx(self._fire_tx, tenant_id, schedule_id, [(None, overlap)], None)
        )

    async def backfill_schedule(
        self,
        tenant_id: str,
        schedule_id: str,
        periods: list[tuple[datetime, datetime, ScheduleOverlapPolicy | None]],
    ) -> int:
        """Act on every fire time of each period as if it were now (the catch-up window
        does not apply)."""
        return int(await self._run_tx(self._fire_tx, tenant_id, schedule_id, None, periods))

    async def _fire_tx(
        self,
        conn: AsyncConnection,
        tx: Tx,
        tenant_id: str,
        schedule_id: str,
        triggers: list[tuple[datetime | None, ScheduleOverlapPolicy | None]] | None,
        periods: list[tuple[datetime, datetime, ScheduleOverlapPolicy | None]] | None,
    ) -> int:
        row = await self._locked(conn, tenant_id, schedule_id)
        now = utcnow()
        record = _record(row)
        schedule, info = record.schedule, record.info
        act = _Acting(self, conn, tx, record, now)
        await act.refresh()
        after = row.processed_until
        manual = triggers is not None or periods is not None
        if schedule.policy.pause_on_failure and act.failed:
            act.pause(f"paused: run {act.failed} failed")
        paused = bool(act.stored["state"]["paused"])
        if not paused or manual:
            await act.drain()  # a buffered start goes before what comes after it
        if paused and not manual:
            pass
        elif triggers is not None:
            for _, overlap in triggers:
                await act.act(now.replace(microsecond=0), overlap, manual=True)
        elif periods is not None:
            for start, end, overlap in periods:
                due = fire_times(
                    schedule.spec, start - timedelta(microseconds=1), end, FIRES_PER_PASS + 1
                )
                if len(due) > FIRES_PER_PASS:
                    raise InvalidInputError(
                        f"the backfill from {start.isoformat()} to {end.isoformat()} holds more "
                        f"than {FIRES_PER_PASS} fires; backfill shorter periods, one at a time"
                    )
                for nominal in due:
                    await act.act(nominal, overlap, manual=True)
        else:
            window = schedule.policy.catchup_window or DEFAULT_CATCHUP_WINDOW
            for nominal in fire_times(schedule.spec, after, now, FIRES_PER_PASS):
                if jittered(schedule.spec, schedule_id, nominal) > now:
                    break
                if nominal < now - window:
                    info["missed"] += 1
                else:
                    await act.act(nominal, None)
                after = nominal
        new_schedule = act.stored
        await conn.execute(
            update(schedules)
            .where(*self._key(tenant_id, schedule_id))
            .values(
                schedule=new_schedule,
                paused=new_schedule["state"]["paused"],
                info=info,
                processed_until=after,
                due_at=_due(schedule_from_json(new_schedule), schedule_id, after, info, now),
                updated_at=now,
            )
        )
        return act.started


def _buffered(
    nominal: datetime, manual: bool, overlap: ScheduleOverlapPolicy | None
) -> dict[str, Any]:
    """A buffered start: its fire time, whether it is manual, its overlap override."""
    return {
        "at": nominal.isoformat(),
        "manual": manual,
        "overlap": int(overlap) if overlap else None,
    }


class _Acting:
    """One transaction's actions on a schedule: the runs it starts, buffers or stops."""

    def __init__(
        self,
        store: ScheduleOperations,
        conn: AsyncConnection,
        tx: Tx,
        record: ScheduleRecord,
        now: datetime,
    ) -> None:
        self.store, self.conn, self.tx, self.now = store, conn, tx, now
        self.record = record
        self.info = record.info
        self.stored = dict(record.stored)
        self.started = 0
        self.failed: str | None = None

    async def refresh(self) -> None:
        """Keep the running actions that are still open; note one that failed."""
        running = self.info["running"]
        open_ids = await self.store._open(self.conn, [r["run_id"] for r in running])
        closed = [r["run_id"] for r in running if r["run_id"] not in open_ids]
        if closed:
            stmt = select(runs.c.run_id).where(runs.c.run_id.in_(closed), runs.c.state.in_(_FAILED))
            self.failed = (await self.conn.execute(stmt)).scalars().first()
        self.info["running"] = [r for r in running if r["run_id"] in open_ids]

    def pause(self, note: str) -> None:
        self.stored["state"] = {**self.stored["state"], "paused": True, "note": note}

    async def drain(self) -> None:
        """Start a buffered fire once nothing the schedule started is open."""
        if self.info["buffer"] and not self.info["running"]:
            entry = self.info["buffer"].pop(0)
            # A manual action (a trigger) is named by when it starts, as on Temporal; a
            # fire keeps its own time.
            manual = bool(entry["manual"])
            if not manual and self._exhausted():
                self.info["buffer"] = []  # no actions left: what waits will not start
                return
            nominal = self.now if manual else datetime.fromisoformat(entry["at"])
            policy = ScheduleOverlapPolicy(
                entry.get("overlap") or self.record.schedule.policy.overlap
            )
            await self._start(nominal.replace(microsecond=0), policy, manual=manual)

    def _exhausted(self) -> bool:
        state = self.stored["state"]
        return bool(state["limited_actions"] and state["remaining_actions"] <= 0)

    async def act(
        self, nominal: datetime, overlap: ScheduleOverlapPolicy | None, *, manual: bool = False
    ) -> None:
        """What one fire (or a trigger, ``manual``) does, by the overlap policy."""
        # As on Temporal, manual actions (triggers, backfills) neither need nor use up
        # a limited schedule's remaining actions.
        if not manual and self._exhausted():
            return
        policy = overlap or self.record.schedule.policy.overlap
        running = self.info["running"]
        if running and policy is not ScheduleOverlapPolicy.ALLOW_ALL:
            if policy is ScheduleOverlapPolicy.SKIP:
                self.info["skipped"] += 1
                return
            if policy is ScheduleOverlapPolicy.TERMINATE_OTHER:
                for r in running:
                    await self._stop(r["run_id"], terminate=True)
                self.info["running"] = []
            else:
                if policy is ScheduleOverlapPolicy.CANCEL_OTHER:
                    for r in running:
                        await self._stop(r["run_id"], terminate=False)
                    self.info["buffer"] = [_buffered(nominal, manual, overlap)]
                elif policy is ScheduleOverlapPolicy.BUFFER_ALL or not self.info["buffer"]:
                    self.info["buffer"].append(_buffered(nominal, manual, overlap))
                else:
                    self.info["skipped"] += 1
                return
        await self._start(nominal, policy, manual=manual)

    async def _stop(self, run_id: str, *, terminate: bool) -> None:
        store, conn, tx, now = self.store, self.conn, self.tx, self.now
        if terminate:
            reason = f"terminated by schedule {self.record.schedule_id} (overlap TERMINATE_OTHER)"
            await store._close_run(
                conn, tx, run_id, RunState.TERMINATED, now,
                [(EventType.WORKFLOW_TERMINATED, {"reason": reason})],
                failure=Failure(kind="terminated", message=reason),
            )  # fmt: skip
        else:
            await store._deliver(
                conn, tx, run_id, [(EventType.WORKFLOW_CANCEL_REQUESTED, {})], now,
                values={"cancel_requested": True},
            )  # fmt: skip

    async def _start(
        self, nominal: datetime, policy: ScheduleOverlapPolicy, *, manual: bool
    ) -> None:
        record, action = self.record, self.record.schedule.action
        stored_action = self.stored["action"]
        p = StartParams(
            workflow_id=scheduled_workflow_id(action.id, nominal),
            workflow_type=str(action.workflow),
            task_queue=action.task_queue,
            input=list(stored_action["args"]),
            tenant_id=record.tenant_id,
            idempotency_key=f"schedule {record.schedule_id} {nominal.isoformat()}",
            execution_timeout=stored_action.get("execution_timeout"),
            run_timeout=stored_action.get("run_timeout"),
            task_timeout=stored_action.get("task_timeout"),
            memo=dict(stored_action.get("memo") or {}),
            search_attributes=dict(stored_action.get("search_attributes") or {}),
        )
        try:
            async with self.conn.begin_nested():
                started = await self.store._start_tx(self.conn, self.tx, p)
        except (InvalidInputError, IntegrityError, DataError, ValueError, TypeError) as exc:
            # A start the database refuses (a value it cannot hold, an id taken) is
            # recorded; anything else (an outage, a deadlock) retries the whole pass.
            _log.error("schedule %s could not start %s: %s", record.schedule_id, p.workflow_id, exc)
            self.info["errors"] = self.info.get("errors", 0) + 1
            return
        if not started.created:
            return
        self.started += 1
        self.info["num_actions"] += 1
        entry = {"workflow_id": p.workflow_id, "run_id": started.run_id}
        if policy is not ScheduleOverlapPolicy.ALLOW_ALL:
            # As on Temporal, runs started under ALLOW_ALL are not tracked as running.
            self.info["running"].append(entry)
        recent = {**entry, "scheduled_at": nominal.isoformat(), "started_at": self.now.isoformat()}
        self.info["recent"] = [*self.info["recent"], recent][-RECENT_ACTIONS:]
        state = self.stored["state"]
        if state["limited_actions"] and not manual:
            self.stored["state"] = {**state, "remaining_actions": state["remaining_actions"] - 1}
