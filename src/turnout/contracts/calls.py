"""The arguments of client calls: one argument or ``args=[...]``, and the checks every
executor's client makes of a start and a signal before anything is sent or stored.
:mod:`turnout.contracts.executor` re-exports them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from turnout.contracts.governance import (
    validate_start_keys,
    validate_task_queue,
    validate_workflow_id,
)
from turnout.contracts.limits import (
    check_duration,
    check_name,
    check_optional_duration,
    check_payload,
)

__all__ = [
    "ARG_UNSET",
    "QUERY_TIMEOUT",
    "call_args",
    "check_query",
    "check_signal",
    "check_start",
    "query_timed_out",
]


class _ArgUnset:
    """Marks "no single argument given" (``None`` is a valid argument)."""

    def __repr__(self) -> str:
        return "ARG_UNSET"


ARG_UNSET: Any = _ArgUnset()

QUERY_TIMEOUT = timedelta(seconds=30)
"""How long a query waits for a worker's answer when the caller sets no ``rpc_timeout``
(about what a Temporal server and temporalio's client wait)."""


def call_args(arg: Any, args: Sequence[Any]) -> list[Any]:
    """The argument list of a call given as one ``arg`` or as ``args=[...]``."""
    if arg is not ARG_UNSET:
        if args:
            raise ValueError("pass either one argument or args=[...], not both")
        return [arg]
    return list(args)


def check_start(
    workflow_type: str,
    workflow_id: str,
    task_queue: str,
    *,
    execution_timeout: timedelta | None = None,
    correlation_id: str | None = None,
    idempotency_key: str | None = None,
) -> timedelta | None:
    """Refuse a start that cannot be stored, before anything is: every executor's client
    calls this, so they refuse the same starts the same way (an InvalidInputError, a
    ValueError, naming the value). Returns the checked execution timeout."""
    check_name(workflow_type, "the workflow type", example="Checkout")
    validate_workflow_id(workflow_id)
    validate_task_queue(task_queue)
    validate_start_keys(correlation_id, idempotency_key)
    return check_optional_duration(execution_timeout, "execution_timeout")


def check_signal(name: str, encoded_args: Any) -> None:
    """Refuse a signal whose name or JSON arguments cannot be stored (InvalidInputError)."""
    check_name(name, "a signal name", example="approve")
    check_payload(encoded_args, f"the arguments of signal {name}")


def check_query(name: str, rpc_timeout: Any) -> timedelta:
    """The wait of a query: ``rpc_timeout`` checked, or :data:`QUERY_TIMEOUT`; refuses a
    query name that cannot be stored (InvalidInputError)."""
    check_name(name, "a query name", example="status")
    if rpc_timeout is None:
        return QUERY_TIMEOUT
    return check_duration(
        rpc_timeout,
        "rpc_timeout",
        unset=f"leave it unset to wait {QUERY_TIMEOUT.total_seconds():g} s",
    )


def query_timed_out(
    name: str, workflow_id: str, task_queue: str | None, timeout: timedelta
) -> TimeoutError:
    """The error of a query no worker answered within ``timeout``: the same line on every
    executor, with what to do about it."""
    where = f"task queue {task_queue!r}" if task_queue else "the run's task queue"
    return TimeoutError(
        f"query {name!r} of workflow {workflow_id!r}: no worker polling {where} answered "
        f"within {timeout.total_seconds():g}s; start a worker on {where} that registers "
        "the workflow (or pass a longer rpc_timeout)"
    )
