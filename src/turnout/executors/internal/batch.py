"""Group commit: writes that arrive while one batch is being written go, all at once,
into the next (one transaction for all of them). A lone write goes at once; nothing
waits for a batch to fill, so batching costs no latency when the system is quiet."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

__all__ = ["GroupCommit"]

T = TypeVar("T")
R = TypeVar("R")


class GroupCommit(Generic[T, R]):
    """Hands what :meth:`submit` receives to ``write`` in batches of up to ``max_batch``.

    ``write`` returns one outcome per item, in order: a result, or an exception that
    :meth:`submit` raises to that item's caller alone. An exception ``write`` itself
    raises goes to every caller of the batch. An item whose caller was cancelled before
    its batch began is dropped.

    ``shared``: the errors every item of a batch would meet (the database out of
    reach), which fail the whole batch at once. When given, any other error of a batch
    of several is taken for one bad item: the items are written again one by one, so
    only the bad one's caller hears it.
    """

    def __init__(
        self,
        write: Callable[[list[T]], Awaitable[Sequence[R | BaseException]]],
        *,
        max_batch: int = 100,
        name: str = "turnout-group-commit",
        shared: tuple[type[BaseException], ...] | None = None,
    ) -> None:
        self._write = write
        self._max_batch = max_batch
        self._name = name
        self._shared = shared
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        """Write ``item`` with whatever else is waiting; its outcome."""
        done: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((item, done))
        if self._writer is None or self._writer.done():
            # A fresh context: the writer serves every caller, not the first one's run
            # (its log fields, its trace span).
            self._writer = asyncio.create_task(
                self._write_pending(), name=self._name, context=contextvars.Context()
            )
        return await done

    async def _write_pending(self) -> None:
        while self._pending:
            batch = self._pending[: self._max_batch]
            del self._pending[: self._max_batch]
            # A caller that gave up (cancelled) before its batch began is not written for.
            batch = [(item, done) for item, done in batch if not done.done()]
            if not batch:
                continue
            try:
                outcomes = await self._write_batch([item for item, _ in batch])
            except Exception as exc:
                for _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
                continue
            for (_, done), outcome in zip(batch, outcomes, strict=True):
                if done.done():  # its caller gave up waiting
                    continue
                if isinstance(outcome, BaseException):
                    done.set_exception(outcome)
                else:
                    done.set_result(outcome)

    async def _write_batch(self, items: list[T]) -> Sequence[R | BaseException]:
        try:
            return await self._write(items)
        except Exception as exc:
            if self._shared is None or isinstance(exc, self._shared) or len(items) == 1:
                raise
        outcomes: list[R | BaseException] = []
        for item in items:  # one bad item: find it, and write the others
            try:
                outcomes.extend(await self._write([item]))
            except Exception as exc:
                if isinstance(exc, self._shared):
                    raise
                outcomes.append(exc)
        return outcomes

    async def drain(self, timeout: float) -> None:
        """Wait (up to ``timeout`` seconds) for the writes already handed over."""
        if self._writer is not None and not self._writer.done():
            await asyncio.wait([self._writer], timeout=timeout)
