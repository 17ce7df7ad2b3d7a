"""What a client offers beyond the :class:`~turnout.contracts.executor.Client` protocol:
its capabilities, a watch on a run, and a task queue's figures.
:mod:`turnout.contracts.executor` re-exports them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

__all__ = ["ClientCapabilities", "QueueFigures", "RunWatch"]


@dataclass(frozen=True)
class ClientCapabilities:
    """What a client can do beyond the :class:`Client` protocol (each flag off by default).

    Callers that serve every executor (the HTTP API, the console) choose their way by
    these flags, never by the executor's name.
    """

    idempotency_keys: bool = False
    """``start_workflow(idempotency_key=...)`` finds the run an earlier start with the key
    made. Without it a retried start is made idempotent through the workflow id
    (``IdConflictPolicy.USE_EXISTING`` with ``IdReusePolicy.REJECT_DUPLICATE``)."""
    page_tokens: bool = False
    """Runs are listed a page at a time by ``list_workflows_page(page_token=...)`` (a
    listing that cannot sort by start time); otherwise by the keyset of
    ``list_workflows(before=(requested_at, run_id))``."""
    run_input: bool = False
    """Handles answer ``input()``: the arguments the run was started with."""


class RunWatch:
    """Wakes a reader of a run's events when the run may have new ones.

    ``woken`` is set by whatever the executor learns (a notification, a long poll of the
    history); a watch with nothing to learn from is never woken and its reader polls.
    ``following`` is true while the watch will say when there is news, so that a reader
    may skip reading between wake-ups.
    """

    def __init__(
        self, woken: asyncio.Event | None = None, following: Callable[[], bool] | None = None
    ) -> None:
        self.woken = woken if woken is not None else asyncio.Event()
        self._following = following

    @property
    def following(self) -> bool:
        """True while a wake-up is sure to come with each change of the run."""
        return self._following is not None and self._following()

    async def wait(self, timeout: float) -> bool:
        """Wait for a wake-up, at most ``timeout`` seconds; True when woken."""
        try:
            await asyncio.wait_for(self.woken.wait(), timeout)
        except TimeoutError:
            return False
        self.woken.clear()
        return True


class QueueFigures(Protocol):
    """One task queue's figures, as a client that keeps them reports them."""

    @property
    def task_queue(self) -> str:
        """The task queue's name."""
        ...

    @property
    def depth(self) -> int:
        """Items ready to be claimed, of every kind."""
        ...

    @property
    def depth_by_kind(self) -> dict[str, int]:
        """Ready items per kind (``workflow_task``, ``activity_task``, ...)."""
        ...

    @property
    def lag_seconds(self) -> float:
        """Age of the oldest ready item (0 when none is ready)."""
        ...

    @property
    def leased(self) -> int:
        """Items a worker holds."""
        ...

    @property
    def dead_letters(self) -> int:
        """Items that ran out of retries."""
        ...
