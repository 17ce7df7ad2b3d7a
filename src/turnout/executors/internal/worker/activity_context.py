"""One activity attempt's context: what ``activity.*`` reaches while it runs (its info,
heartbeats, cancellation, artifacts), and the timeouts it is held to."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, NoReturn

from turnout.contracts.errors import CancelledError, TimeoutType
from turnout.contracts.records import Artifact
from turnout.executors.internal import codec
from turnout.executors.internal.store import ClaimedItem, Store
from turnout.executors.internal.store.base import utcnow
from turnout.workflows._runtime import ActivityInfo, ArtifactSpec, CompleteAsyncError

__all__ = ["ActivityContext", "AttemptTimedOut"]

_log = logging.getLogger("turnout.worker")


class AttemptTimedOut(Exception):
    """An activity attempt ran past one of its timeouts."""

    def __init__(self, kind: TimeoutType) -> None:
        super().__init__(kind.value)
        self.kind = kind


class ActivityContext:
    """The ActivityRuntime of one running activity attempt."""

    def __init__(
        self, store: Store, item: ClaimedItem, info: ActivityInfo, client: Any = None
    ) -> None:
        self._store = store
        self._client = client
        self.item = item
        self._info = info
        self.details: list[Any] | None = None
        self.cancelled = False
        self.cancel_seen = threading.Event()
        """Set once a cancellation reached the attempt (``wait_for_cancelled*``)."""
        self.pending = asyncio.Event()
        self.task: asyncio.Future[Any] | None = None
        self.cancel_child: Callable[[], None] | None = None
        """Tells a child process it is cancelled; the attempt then waits for its end."""
        self.loop = asyncio.get_running_loop()
        self.last_beat = time.monotonic()
        task = item.activity
        now = utcnow()
        started = time.monotonic()
        self._deadlines: list[tuple[TimeoutType, float]] = []
        if task.start_to_close_timeout:
            self._deadlines.append(
                (TimeoutType.START_TO_CLOSE, started + task.start_to_close_timeout)
            )
        if item.deadline_at is not None:
            left = (item.deadline_at - now).total_seconds()
            self._deadlines.append((TimeoutType.SCHEDULE_TO_CLOSE, started + left))
        self._heartbeat_timeout = task.heartbeat_timeout

    def next_deadline(self) -> tuple[TimeoutType | None, float]:
        """The nearest timeout of this attempt and the seconds left until it (1 h if none)."""
        deadlines = list(self._deadlines)
        if self._heartbeat_timeout is not None:
            deadlines.append((TimeoutType.HEARTBEAT, self.last_beat + self._heartbeat_timeout))
        if not deadlines:
            return None, 3600.0
        kind, at = min(deadlines, key=lambda d: d[1])
        return kind, at - time.monotonic()

    def info(self) -> ActivityInfo:
        return self._info

    def heartbeat(self, *details: Any) -> None:
        encoded = codec.encode_heartbeat(details, self._info.activity_type)
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            self.record_beat(encoded)
        else:  # a sync activity in a worker thread
            self.details = encoded
            self.last_beat = time.monotonic()
            self.loop.call_soon_threadsafe(self.pending.set)
            if self.cancelled:
                # As on Temporal: a thread is not interrupted, so a sync activity learns
                # of its cancellation here, at its next heartbeat.
                raise CancelledError("activity cancelled")

    def record_beat(self, encoded: list[Any]) -> None:
        """Take a heartbeat's encoded details (on the event loop)."""
        self.details = encoded
        self.last_beat = time.monotonic()
        self.pending.set()

    def forward_cancel(self, cancel: Callable[[], None]) -> None:
        """Have ``cancel`` tell the child process running this attempt of a cancellation."""
        self.cancel_child = cancel

    def is_cancelled(self) -> bool:
        return self.cancelled

    def cancel(self) -> None:
        """Record that the attempt was asked to cancel."""
        self.cancelled = True
        self.cancel_seen.set()
        if self.cancel_child is not None:
            self.cancel_child()

    async def wait_for_cancelled(self) -> None:
        while not self.cancel_seen.is_set():
            await asyncio.to_thread(self.cancel_seen.wait, 1.0)

    def wait_for_cancelled_sync(self, timeout: float | None) -> bool:
        return self.cancel_seen.wait(timeout)

    def raise_complete_async(self) -> NoReturn:
        raise CompleteAsyncError()

    def payload_converter(self) -> codec.JsonPayloadConverter:
        return codec.CONVERTER

    def client(self) -> Any:
        if self._client is None:
            raise RuntimeError(
                "this activity runs without a client; connect with turnout.connect()"
            )
        return self._client

    def logger(self) -> logging.LoggerAdapter[logging.Logger]:
        from turnout.workflows.activity import logger

        return logger

    async def record_artifact(self, spec: ArtifactSpec) -> Artifact:
        artifact = Artifact(
            artifact_id=uuid.uuid4().hex,
            run_id=self.item.run_id,
            workflow_id=self.item.workflow_id,
            tenant_id=self.item.tenant_id,
            name=spec.name,
            uri=spec.uri,
            media_type=spec.media_type,
            size_bytes=spec.size,
            digest=spec.digest,
            created_at=utcnow(),
            attributes={**spec.attributes, "activity_type": self._info.activity_type},
        )
        if not await self._store.record_artifact(self.item, artifact):
            _log.warning(
                "artifact %s of run %s not recorded: the run is closed", spec.name, self.item.run_id
            )
        return artifact
