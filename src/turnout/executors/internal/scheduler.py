"""The scheduler: each worker's reaper pass acts on the schedules that are due, across
every tenant. A fire is acted on once however many workers look (``store/schedules.py``
holds the schedule's row while it acts); a schedule whose pass raises is set aside for a
while, logged, and harms no other schedule."""

from __future__ import annotations

import contextlib
import logging
import time
from datetime import timedelta

from turnout.executors.internal.store.base import Store
from turnout.executors.internal.store.errors import UNREACHABLE
from turnout.executors.internal.store.sql import utcnow

__all__ = ["Scheduler"]

_log = logging.getLogger("turnout.schedules")

SET_ASIDE_SECONDS = 60.0
"""How long a schedule whose pass raised is left alone before it is tried again."""


class Scheduler:
    """Acts on due schedules, one transaction each."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._set_aside: dict[tuple[str, str], float] = {}

    async def pass_once(self) -> int:
        """One pass over the due schedules; how many runs it started."""
        started = 0
        clock = time.monotonic()
        self._set_aside = {k: t for k, t in self._set_aside.items() if t > clock}
        for key in await self._store.due_schedules(utcnow()):
            if self._set_aside.get(key, 0.0) > clock:
                continue
            try:
                started += await self._store.fire_schedule(*key)
            except UNREACHABLE:
                raise
            except Exception as exc:
                self._set_aside[key] = clock + SET_ASIDE_SECONDS
                # Due later in the table too, so that it does not stand before the others.
                with contextlib.suppress(Exception):
                    until = utcnow() + timedelta(seconds=SET_ASIDE_SECONDS)
                    await self._store.defer_schedule(*key, until)
                _log.error(
                    "schedule %s of tenant %s failed to act (%s); it is tried again in %d s",
                    key[1],
                    key[0],
                    exc,
                    SET_ASIDE_SECONDS,
                )
        return started
