"""The ``executor`` fixture: a connected client and a running worker on each executor.

A test (or a user's test) asks for ``executor`` and gets an :class:`ExecutorHarness`
per executor kind chosen with ``--turnout-executors`` (default: all three). The
workflows and activities the worker runs come from the ``turnout_workflows`` and
``turnout_activities`` fixtures, which a conftest.py overrides.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

__all__ = ["EXECUTOR_KINDS", "ExecutorHarness", "executor_kinds"]

EXECUTOR_KINDS = ("internal-sqlite", "internal-postgres", "temporal")
OPTION = "--turnout-executors"


@dataclass(frozen=True)
class ExecutorHarness:
    """What the ``executor`` fixture gives a test."""

    kind: str
    """``internal-sqlite``, ``internal-postgres`` or ``temporal``."""
    client: Any
    """A connected turnout client."""
    task_queue: str
    """The task queue the running worker polls (unique per test)."""
    target: str = ""
    """What ``turnout.client.Client.connect(target)`` connects to for this executor: the
    Temporal frontend's ``host:port`` or the database URL."""

    @property
    def is_internal(self) -> bool:
        """True on the internal executor (either database)."""
        return self.kind.startswith("internal")


def executor_kinds(config: pytest.Config) -> list[str]:
    """The executor kinds chosen on the command line, validated."""
    raw = str(config.getoption(OPTION) or ",".join(EXECUTOR_KINDS))
    kinds = [k.strip() for k in raw.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in EXECUTOR_KINDS]
    if unknown or not kinds:
        raise pytest.UsageError(
            f"{OPTION}={raw!r}: unknown executor {unknown or raw!r}; "
            f"choose from {', '.join(EXECUTOR_KINDS)}"
        )
    return kinds


async def open_harness(
    request: pytest.FixtureRequest,
    workflows: Sequence[type],
    activities: Sequence[Callable[..., Any]],
) -> AsyncIterator[ExecutorHarness]:
    """Connect to ``request.param``'s executor and run a worker for the given definitions."""
    import turnout

    kind = str(request.param)
    if kind == "temporal":
        target = str(request.getfixturevalue("temporal_address"))
        settings: dict[str, Any] = {"executor": "temporal", "temporal_address": target}
    else:
        fixture = "sqlite_url" if kind == "internal-sqlite" else "postgres_url"
        target = str(request.getfixturevalue(fixture))
        settings = {"executor": "internal", "database_url": target}
    if not workflows and not activities:
        raise pytest.UsageError(
            "the executor fixture runs a worker for your definitions: override the "
            "turnout_workflows and turnout_activities fixtures in your conftest.py"
        )
    client = await turnout.connect(**settings, workflows=workflows)
    task_queue = f"contract-{uuid.uuid4().hex[:10]}"
    try:
        async with turnout.Worker(
            client, task_queue=task_queue, workflows=workflows, activities=activities
        ):
            yield ExecutorHarness(kind=kind, client=client, task_queue=task_queue, target=target)
    finally:
        await client.close()
