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
from turnout.contracts.limits import check_name, check_optional_duration, check_payload

__all__ = ["ARG_UNSET", "call_args", "check_signal", "check_start"]


class _ArgUnset:
    """Marks "no single argument given" (``None`` is a valid argument)."""

    def __repr__(self) -> str:
        return "ARG_UNSET"


ARG_UNSET: Any = _ArgUnset()


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
