"""Asynchronous activity completion on Temporal: temporalio's ``AsyncActivityHandle``
behind turnout's, its errors as turnout's."""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import Any, NoReturn, cast

import temporalio.client
import temporalio.service

from turnout.contracts.async_activity import (
    ActivityNotFoundError,
    AsyncActivityCancelledError,
    AsyncActivityHandle,
    AsyncActivityIDReference,
)
from turnout.executors.temporal._errors import suppressed, to_temporal

__all__ = ["TemporalAsyncActivityHandle"]

_RPC = temporalio.service.RPCStatusCode


class TemporalAsyncActivityHandle(AsyncActivityHandle):
    """:class:`AsyncActivityHandle` on Temporal: each call is temporalio's."""

    def __init__(
        self, raw: temporalio.client.Client, target: AsyncActivityIDReference | bytes
    ) -> None:
        super().__init__(target)
        if isinstance(target, bytes):
            self._raw = raw.get_async_activity_handle(task_token=target)
            self._what = f"the activity attempt of task token {target.hex()}"
        else:
            self._raw = raw.get_async_activity_handle(
                workflow_id=target.workflow_id or "",
                run_id=target.run_id,
                activity_id=target.activity_id,
            )
            run = f" (run {target.run_id})" if target.run_id else ""
            self._what = f"activity {target.activity_id!r} of workflow {target.workflow_id!r}{run}"

    async def _call(self, call: Awaitable[None]) -> None:
        try:
            await call
        except temporalio.client.AsyncActivityCancelledError:
            raise suppressed(AsyncActivityCancelledError()) from None
        except temporalio.service.RPCError as exc:
            self._refused(exc)

    def _refused(self, exc: temporalio.service.RPCError) -> NoReturn:
        if exc.status == _RPC.NOT_FOUND:
            raise ActivityNotFoundError(self._what) from None
        if exc.status == _RPC.INVALID_ARGUMENT and isinstance(self.id_or_token, bytes):
            raise ValueError(
                f"the task token ({len(self.id_or_token)} bytes) is not a valid Temporal task "
                f"token: pass activity.info().task_token, unchanged ({exc.message})"
            ) from None
        raise exc

    async def heartbeat(self, *details: Any) -> None:
        """Record a heartbeat (see :meth:`AsyncActivityHandle.heartbeat`)."""
        await self._call(self._raw.heartbeat(*details))

    async def complete(self, result: Any = None) -> None:
        """Complete the activity (see :meth:`AsyncActivityHandle.complete`)."""
        await self._call(self._raw.complete(result))

    async def fail(self, error: Exception, *, last_heartbeat_details: Sequence[Any] = ()) -> None:
        """Fail this attempt (see :meth:`AsyncActivityHandle.fail`)."""
        if not isinstance(error, BaseException):
            raise TypeError(f"fail() takes an exception, not {type(error).__name__}")
        converted = cast(Exception, to_temporal(error))  # an Exception stays one
        await self._call(
            self._raw.fail(converted, last_heartbeat_details=list(last_heartbeat_details))
        )

    async def report_cancellation(self, *details: Any) -> None:
        """Record that the activity stopped, canceled (see
        :meth:`AsyncActivityHandle.report_cancellation`)."""
        await self._call(self._raw.report_cancellation(*details))
