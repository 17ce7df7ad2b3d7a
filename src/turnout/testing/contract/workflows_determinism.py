"""Workflows that reach for the clock, randomness or I/O directly (the scenarios in
``test_determinism_guard.py``): each fails its workflow task on every executor, as
Temporal's sandbox has it, unless the call is made unrestricted on purpose."""

from __future__ import annotations

import datetime
import os
import random
import time
import uuid
from collections.abc import Callable
from typing import Any

from turnout import workflow

CALLS: dict[str, Callable[[], Any]] = {
    "time.time": lambda: time.time(),
    "time.sleep": lambda: time.sleep(0),
    "datetime.now": lambda: datetime.datetime.now(),
    "datetime.utcnow": lambda: datetime.datetime.utcnow(),
    "date.today": lambda: datetime.date.today(),
    "random.random": lambda: random.random(),
    "random.randint": lambda: random.randint(1, 6),
    "uuid.uuid4": lambda: uuid.uuid4(),
    "os.urandom": lambda: os.urandom(4),
    "open": lambda: open(os.devnull),  # noqa: SIM115
}
"""Each call the guard refuses, by the name its error must carry."""


@workflow.defn
class ClockReader:
    """Makes the call ``name`` names in its run method, then returns ``done``."""

    @workflow.run
    async def run(self, name: str) -> str:
        CALLS[name]()
        return "done"


@workflow.defn
class LicensedClockReader:
    """Makes the calls inside ``sandbox_unrestricted()``, and workflow's own replacements
    outside it: completes on every executor."""

    @workflow.run
    async def run(self) -> list[str]:
        with workflow.unsafe.sandbox_unrestricted():
            wall = time.time()
            today = datetime.date.today()
        # workflow's own replacements are never refused
        replacements = [workflow.now(), workflow.random().randint(1, 6), workflow.uuid4()]
        return [type(wall).__name__, type(today).__name__, str(len(replacements))]


@workflow.defn(sandboxed=False)
class UnsandboxedClockReader:
    """A workflow declared ``sandboxed=False``: nothing is refused."""

    @workflow.run
    async def run(self) -> str:
        return type(datetime.datetime.now()).__name__ + type(random.random()).__name__


DETERMINISM_WORKFLOWS: list[type] = [ClockReader, LicensedClockReader, UnsandboxedClockReader]
