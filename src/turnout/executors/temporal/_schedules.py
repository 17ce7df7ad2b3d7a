"""Schedules on Temporal: turnout's schedule types mapped to temporalio's and back, and
the handle on a Temporal Schedule. The server keeps and fires them."""

from __future__ import annotations

import inspect
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import temporalio.client as tc
import temporalio.common
import temporalio.service

from turnout.contracts.schedule_codec import check_schedule
from turnout.contracts.schedules import (
    Schedule,
    ScheduleActionExecutionStartWorkflow,
    ScheduleActionResult,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleBackfill,
    ScheduleCalendarSpec,
    ScheduleDescription,
    ScheduleInfo,
    ScheduleIntervalSpec,
    ScheduleListDescription,
    ScheduleNotFoundError,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from turnout.contracts.search_attributes import check_search_attributes, typed_from_stored
from turnout.executors.temporal._runtime import temporal_retry_policy
from turnout.executors.temporal._search import from_temporal as stored_attributes
from turnout.executors.temporal._search import typed_to_temporal

if TYPE_CHECKING:
    from turnout.executors.temporal._client import TemporalClient

__all__ = ["TemporalScheduleHandle", "TemporalSchedules"]


def _ranges(ranges: Sequence[ScheduleRange], to: type) -> tuple[Any, ...]:
    return tuple(to(r.start, r.end, r.step) for r in ranges)


def _calendar(c: Any, to: type, ranges: type) -> Any:
    return to(
        second=_ranges(c.second, ranges),
        minute=_ranges(c.minute, ranges),
        hour=_ranges(c.hour, ranges),
        day_of_month=_ranges(c.day_of_month, ranges),
        month=_ranges(c.month, ranges),
        year=_ranges(c.year, ranges),
        day_of_week=_ranges(c.day_of_week, ranges),
        comment=c.comment,
    )


def _spec(s: Any, spec: type, calendar: type, interval: type, ranges: type) -> Any:
    return spec(
        calendars=[_calendar(c, calendar, ranges) for c in s.calendars],
        intervals=[interval(i.every, i.offset) for i in s.intervals],
        cron_expressions=list(s.cron_expressions),
        skip=[_calendar(c, calendar, ranges) for c in s.skip],
        start_at=s.start_at,
        end_at=s.end_at,
        jitter=s.jitter,
        time_zone_name=s.time_zone_name,
    )


def to_temporal(schedule: Schedule) -> tc.Schedule:
    """temporalio's Schedule of a checked turnout one."""
    a = schedule.action
    typed = typed_to_temporal(check_search_attributes(a.typed_search_attributes))
    action = tc.ScheduleActionStartWorkflow(
        str(a.workflow),
        args=list(a.args),
        id=a.id,
        task_queue=a.task_queue,
        execution_timeout=a.execution_timeout,
        run_timeout=a.run_timeout,
        task_timeout=a.task_timeout,
        retry_policy=temporal_retry_policy(a.retry_policy),
        memo=dict(a.memo) if a.memo else None,
        typed_search_attributes=typed or temporalio.common.TypedSearchAttributes.empty,
    )
    p, st = schedule.policy, schedule.state
    return tc.Schedule(
        action=action,
        spec=_spec(
            schedule.spec,
            tc.ScheduleSpec,
            tc.ScheduleCalendarSpec,
            tc.ScheduleIntervalSpec,
            tc.ScheduleRange,
        ),
        policy=tc.SchedulePolicy(
            overlap=tc.ScheduleOverlapPolicy(int(p.overlap)),
            catchup_window=p.catchup_window,
            pause_on_failure=p.pause_on_failure,
        ),
        state=tc.ScheduleState(
            note=st.note,
            paused=st.paused,
            limited_actions=st.limited_actions,
            remaining_actions=st.remaining_actions,
        ),
    )


def _action_from(raw: Any) -> ScheduleActionStartWorkflow:
    args = [tc_value(p) for p in raw.args]
    return ScheduleActionStartWorkflow(
        raw.workflow,
        args=args,
        id=raw.id,
        task_queue=raw.task_queue,
        execution_timeout=raw.execution_timeout,
        run_timeout=raw.run_timeout,
        task_timeout=raw.task_timeout,
        memo={k: tc_value(v) for k, v in (raw.memo or {}).items()} or None,
        typed_search_attributes=typed_from_stored(stored_attributes(raw.typed_search_attributes)),
    )


def tc_value(value: Any) -> Any:
    """A value of a described action: temporalio gives payloads; their JSON is the value."""
    data = getattr(value, "data", None)
    if isinstance(data, bytes):
        try:
            return json.loads(data)
        except ValueError:
            return data.decode(errors="replace")
    return value


def from_temporal(raw: tc.Schedule) -> Schedule:
    """turnout's Schedule of a described temporalio one."""
    p, st = raw.policy, raw.state
    return Schedule(
        action=_action_from(raw.action),
        spec=_spec(
            raw.spec, ScheduleSpec, ScheduleCalendarSpec, ScheduleIntervalSpec, ScheduleRange
        ),
        policy=SchedulePolicy(
            overlap=ScheduleOverlapPolicy(int(p.overlap)),
            catchup_window=p.catchup_window,
            pause_on_failure=p.pause_on_failure,
        ),
        state=ScheduleState(st.note, st.paused, st.limited_actions, st.remaining_actions),
    )


def _execution(raw: Any) -> ScheduleActionExecutionStartWorkflow:
    return ScheduleActionExecutionStartWorkflow(raw.workflow_id, raw.first_execution_run_id)


def _description(raw: tc.ScheduleDescription) -> ScheduleDescription:
    i = raw.info
    info = ScheduleInfo(
        num_actions=i.num_actions,
        num_actions_missed_catchup_window=i.num_actions_missed_catchup_window,
        num_actions_skipped_overlap=i.num_actions_skipped_overlap,
        running_actions=[_execution(r) for r in i.running_actions],
        recent_actions=[
            ScheduleActionResult(r.scheduled_at, r.started_at, _execution(r.action))
            for r in i.recent_actions
        ],
        next_action_times=list(i.next_action_times),
        created_at=i.created_at,
        last_updated_at=i.last_updated_at,
    )
    return ScheduleDescription(raw.id, from_temporal(raw.schedule), info)


def _refused(exc: temporalio.service.RPCError, schedule_id: str) -> Exception:
    if exc.status == temporalio.service.RPCStatusCode.NOT_FOUND:
        return ScheduleNotFoundError(schedule_id)
    return exc


class TemporalScheduleHandle:
    """A handle on one Temporal Schedule, its errors turnout's."""

    def __init__(self, client: TemporalClient, schedule_id: str) -> None:
        self._client = client
        self._raw = client.raw.get_schedule_handle(schedule_id)
        self.id = schedule_id

    async def _call(self, call: Callable[[], Awaitable[Any]]) -> Any:
        try:
            return await call()
        except temporalio.service.RPCError as exc:
            raise _refused(exc, self.id) from None

    async def describe(self) -> ScheduleDescription:
        """The schedule, what it has done and its next fire times."""
        return _description(await self._call(self._raw.describe))

    async def pause(self, *, note: str | None = None) -> None:
        """Pause the schedule."""
        await self._call(lambda: self._raw.pause(note=note))

    async def unpause(self, *, note: str | None = None) -> None:
        """Unpause the schedule."""
        await self._call(lambda: self._raw.unpause(note=note))

    async def trigger(self, *, overlap: ScheduleOverlapPolicy | None = None) -> None:
        """Act once now."""
        raw = tc.ScheduleOverlapPolicy(int(overlap)) if overlap is not None else None
        await self._call(lambda: self._raw.trigger(overlap=raw))

    async def backfill(self, *backfill: ScheduleBackfill) -> None:
        """Act on every fire time of each period."""
        periods = [
            tc.ScheduleBackfill(
                b.start_at,
                b.end_at,
                tc.ScheduleOverlapPolicy(int(b.overlap)) if b.overlap is not None else None,
            )
            for b in backfill
        ]
        await self._call(lambda: self._raw.backfill(*periods))

    async def delete(self) -> None:
        """Delete the schedule; the runs it started go on."""
        await self._call(self._raw.delete)

    async def update(
        self,
        updater: Callable[
            [ScheduleUpdateInput], ScheduleUpdate | Awaitable[ScheduleUpdate | None] | None
        ],
    ) -> None:
        """Give ``updater`` the description; keep the schedule it returns (None: none)."""
        client = self._client

        async def raw_updater(raw: tc.ScheduleUpdateInput) -> tc.ScheduleUpdate | None:
            update = updater(ScheduleUpdateInput(_description(raw.description)))
            if inspect.isawaitable(update):
                update = await update
            if update is None:
                return None
            return tc.ScheduleUpdate(to_temporal(client.checked_schedule(self.id, update.schedule)))

        await self._call(lambda: self._raw.update(raw_updater))


class TemporalSchedules:
    """The client's schedule methods (a mixin of ``TemporalClient``)."""

    def checked_schedule(self: TemporalClient, schedule_id: str, schedule: Any) -> Schedule:  # type: ignore[misc]
        """``schedule`` checked as ``create_schedule`` checks it."""
        return check_schedule(schedule_id, schedule, lambda w: self._resolve(w)[0])

    async def create_schedule(  # type: ignore[misc]
        self: TemporalClient,
        id: str,
        schedule: Schedule,
        *,
        trigger_immediately: bool = False,
        backfill: Sequence[ScheduleBackfill] = (),
        memo: Mapping[str, Any] | None = None,
    ) -> TemporalScheduleHandle:
        """Create a Temporal Schedule (ScheduleAlreadyRunningError when the id is taken)."""
        raw = to_temporal(self.checked_schedule(id, schedule))
        try:
            await self.raw.create_schedule(
                id, raw, trigger_immediately=trigger_immediately, memo=dict(memo) if memo else None
            )
        except tc.ScheduleAlreadyRunningError:
            raise ScheduleAlreadyRunningError(id) from None
        handle = TemporalScheduleHandle(self, id)
        if backfill:
            await handle.backfill(*backfill)
        return handle

    def get_schedule_handle(self: TemporalClient, id: str) -> TemporalScheduleHandle:  # type: ignore[misc]
        """A handle on the Temporal Schedule ``id``."""
        return TemporalScheduleHandle(self, id)

    async def list_schedules(  # type: ignore[misc]
        self: TemporalClient, query: str | None = None
    ) -> AsyncIterator[ScheduleListDescription]:
        """The namespace's schedules (Temporal's visibility: eventually consistent)."""
        listed = await self.raw.list_schedules(query)

        async def each() -> AsyncIterator[ScheduleListDescription]:
            async for entry in listed:
                try:
                    described = await TemporalScheduleHandle(self, entry.id).describe()
                except ScheduleNotFoundError:
                    continue  # deleted since it was listed
                yield ScheduleListDescription(described.id, described.schedule, described.info)

        return each()
