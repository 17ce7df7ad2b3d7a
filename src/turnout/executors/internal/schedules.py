"""Schedules on the internal executor: the client's ``create_schedule``,
``get_schedule_handle`` and ``list_schedules``, and the handle on one schedule. The
store keeps them; every worker's reaper acts on their fires (``scheduler.py``)."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from turnout.contracts.errors import ConfigurationError
from turnout.contracts.limits import InvalidInputError, check_name, check_text
from turnout.contracts.memo import check_memo
from turnout.contracts.schedule_codec import check_schedule, schedule_to_json
from turnout.contracts.schedule_times import next_fire
from turnout.contracts.schedules import (
    Schedule,
    ScheduleActionExecutionStartWorkflow,
    ScheduleActionResult,
    ScheduleBackfill,
    ScheduleDescription,
    ScheduleInfo,
    ScheduleListDescription,
    ScheduleOverlapPolicy,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from turnout.executors.internal.store.records import ScheduleChange
from turnout.executors.internal.store.schedules import ScheduleRecord
from turnout.executors.internal.store.sql import utcnow

if TYPE_CHECKING:
    from turnout.executors.internal.client import InternalClient

__all__ = ["InternalScheduleHandle", "InternalSchedules"]

NEXT_ACTION_TIMES = 10
"""How many of its next fire times a description shows."""


def _execution(entry: Mapping[str, Any]) -> ScheduleActionExecutionStartWorkflow:
    return ScheduleActionExecutionStartWorkflow(entry["workflow_id"], entry["run_id"])


def _info(record: ScheduleRecord) -> ScheduleInfo:
    info, spec = record.info, record.schedule.spec
    upcoming: list[datetime] = []
    moment = next_fire(spec, utcnow())
    while moment is not None and len(upcoming) < NEXT_ACTION_TIMES:
        upcoming.append(moment)
        moment = next_fire(spec, moment)
    return ScheduleInfo(
        num_actions=info["num_actions"],
        num_actions_missed_catchup_window=info["missed"],
        num_actions_skipped_overlap=info["skipped"],
        running_actions=[_execution(r) for r in info["running"]],
        recent_actions=[
            ScheduleActionResult(
                scheduled_at=datetime.fromisoformat(r["scheduled_at"]),
                started_at=datetime.fromisoformat(r["started_at"]),
                action=_execution(r),
            )
            for r in info["recent"]
        ],
        next_action_times=upcoming,
        created_at=record.created_at,
        last_updated_at=record.updated_at,
    )


def _description(record: ScheduleRecord) -> ScheduleDescription:
    return ScheduleDescription(record.schedule_id, record.schedule, _info(record))


def _overlap(value: Any) -> ScheduleOverlapPolicy | None:
    return None if value is None else ScheduleOverlapPolicy(value)


class InternalScheduleHandle:
    """A handle on one schedule of the client's tenant (no I/O until it is used)."""

    def __init__(self, client: InternalClient, schedule_id: str) -> None:
        check_name(schedule_id, "the schedule id", example="nightly-report")
        self._client = client
        self.id = schedule_id

    @property
    def _store(self) -> Any:
        return self._client.store

    async def describe(self) -> ScheduleDescription:
        """The schedule, with what it has done and its next fire times."""
        return _description(await self._store.get_schedule(self._client.tenant_id, self.id))

    async def pause(self, *, note: str | None = None) -> None:
        """Stop acting on fires (those that pass while paused are not caught up)."""
        change = ScheduleChange(paused=True, note=_note(note, "Paused via turnout"))
        await self._store.change_schedule(self._client.tenant_id, self.id, change)

    async def unpause(self, *, note: str | None = None) -> None:
        """Act on fires again, from now on."""
        change = ScheduleChange(paused=False, note=_note(note, "Unpaused via turnout"))
        await self._store.change_schedule(self._client.tenant_id, self.id, change)

    async def trigger(self, *, overlap: ScheduleOverlapPolicy | None = None) -> None:
        """Act once now, as a fire would (``overlap`` overrides the policy's)."""
        await self._store.trigger_schedule(self._client.tenant_id, self.id, _overlap(overlap))

    async def backfill(self, *backfill: ScheduleBackfill) -> None:
        """Act on every fire time of each period as if it were now."""
        if not backfill:
            raise InvalidInputError(
                "backfill needs at least one ScheduleBackfill(start_at, end_at)"
            )
        periods = []
        for period in backfill:
            if period.start_at.tzinfo is None or period.end_at.tzinfo is None:
                raise InvalidInputError("a backfill's start_at and end_at must be aware datetimes")
            if period.end_at < period.start_at:
                raise InvalidInputError("a backfill's end_at is before its start_at")
            periods.append((period.start_at, period.end_at, _overlap(period.overlap)))
        await self._store.backfill_schedule(self._client.tenant_id, self.id, periods)

    async def delete(self) -> None:
        """Forget the schedule; the runs it started go on."""
        await self._store.delete_schedule(self._client.tenant_id, self.id)

    async def update(
        self,
        updater: Callable[
            [ScheduleUpdateInput], ScheduleUpdate | Awaitable[ScheduleUpdate | None] | None
        ],
    ) -> None:
        """Give ``updater`` the description; keep the schedule it returns (None: none)."""
        described = await self.describe()
        update = updater(ScheduleUpdateInput(described))
        if inspect.isawaitable(update):
            update = await update
        if update is None:
            return
        checked = self._client.checked_schedule(self.id, update.schedule)
        change = ScheduleChange(stored=schedule_to_json(checked))
        await self._store.change_schedule(self._client.tenant_id, self.id, change)


def _note(note: str | None, default: str) -> str:
    return default if note is None else check_text(note, "the note", max_length=4096)


class InternalSchedules:
    """The client's schedule methods (a mixin of ``InternalClient``)."""

    def checked_schedule(self: InternalClient, schedule_id: str, schedule: Any) -> Schedule:  # type: ignore[misc]
        """``schedule`` checked as ``create_schedule`` checks it."""
        checked = check_schedule(schedule_id, schedule, lambda w: self._resolve_workflow(w)[0])
        if checked.action.retry_policy is not None:
            raise ConfigurationError(
                "a workflow-level retry_policy is not supported by the internal executor; "
                "give the activities retry policies"
            )
        return checked

    async def create_schedule(  # type: ignore[misc]
        self: InternalClient,
        id: str,
        schedule: Schedule,
        *,
        trigger_immediately: bool = False,
        backfill: Sequence[ScheduleBackfill] = (),
        memo: Mapping[str, Any] | None = None,
    ) -> InternalScheduleHandle:
        """Keep a schedule; its fires start runs from now on (ScheduleAlreadyRunningError
        when the id is taken). ``trigger_immediately`` acts once at once."""
        checked = self.checked_schedule(id, schedule)
        await self.store.create_schedule(
            self.tenant_id, id, schedule_to_json(checked), check_memo(memo, "the schedule's memo")
        )
        handle = InternalScheduleHandle(self, id)
        if trigger_immediately:
            await handle.trigger()
        if backfill:
            await handle.backfill(*backfill)
        return handle

    def get_schedule_handle(self: InternalClient, id: str) -> InternalScheduleHandle:  # type: ignore[misc]
        """A handle on the schedule ``id`` of this client's tenant."""
        return InternalScheduleHandle(self, id)

    async def list_schedules(  # type: ignore[misc]
        self: InternalClient, query: str | None = None
    ) -> AsyncIterator[ScheduleListDescription]:
        """The tenant's schedules, by id (``query`` is not supported for schedules)."""
        if query:
            raise InvalidInputError("list_schedules takes no query on turnout; filter the results")
        records = await self.store.list_schedules(self.tenant_id)

        async def each() -> AsyncIterator[ScheduleListDescription]:
            for record in records:
                yield ScheduleListDescription(record.schedule_id, record.schedule, _info(record))

        return each()
