"""``workflow.unsafe``: temporalio's escape hatches, and the providers an executor
installs to give them meaning (Temporal's sandbox)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar

from turnout.workflows._runtime import current_workflow_runtime, in_workflow

__all__ = ["add_pass_through_provider", "add_unrestricted_provider", "unsafe"]

_pass_through_providers: list[Callable[[], contextlib.AbstractContextManager[None]]] = []
_unrestricted_providers: list[Callable[[], contextlib.AbstractContextManager[None]]] = []
_passing_through: ContextVar[bool] = ContextVar("turnout_imports_passed_through", default=False)
_unrestricted: ContextVar[bool] = ContextVar("turnout_sandbox_unrestricted", default=False)


class unsafe:
    """Escape hatches, as in temporalio."""

    @staticmethod
    def is_replaying() -> bool:
        """True while the workflow code re-runs recorded history."""
        return in_workflow() and current_workflow_runtime().is_replaying()

    @staticmethod
    @contextlib.contextmanager
    def imports_passed_through() -> Iterator[None]:
        """Imports inside this block bypass a workflow sandbox (Temporal); no-op otherwise."""
        with contextlib.ExitStack() as stack:
            for provider in _pass_through_providers:
                stack.enter_context(provider())
            token = _passing_through.set(True)
            try:
                yield
            finally:
                _passing_through.reset(token)

    @staticmethod
    @contextlib.contextmanager
    def sandbox_unrestricted() -> Iterator[None]:
        """Code in this block runs without the workflow sandbox's restrictions (Temporal);
        the internal executor has no sandbox, so there it changes nothing."""
        with contextlib.ExitStack() as stack:
            for provider in _unrestricted_providers:
                stack.enter_context(provider())
            token = _unrestricted.set(True)
            try:
                yield
            finally:
                _unrestricted.reset(token)

    @staticmethod
    def is_imports_passed_through() -> bool:
        """True inside ``imports_passed_through()``."""
        return _passing_through.get()

    @staticmethod
    def is_sandbox_unrestricted() -> bool:
        """True inside ``sandbox_unrestricted()``."""
        return _unrestricted.get()

    @staticmethod
    def in_sandbox() -> bool:
        """True when workflow code runs in a sandbox (Temporal's); never on the internal
        executor."""
        return in_workflow() and current_workflow_runtime().in_sandbox()

    @staticmethod
    def is_read_only() -> bool:
        """True while the code may not change the workflow (a query handler, an update
        validator)."""
        return in_workflow() and current_workflow_runtime().is_read_only()


def add_pass_through_provider(
    provider: Callable[[], contextlib.AbstractContextManager[None]],
) -> None:
    """Let an executor make ``unsafe.imports_passed_through()`` meaningful (Temporal's sandbox)."""
    if provider not in _pass_through_providers:
        _pass_through_providers.append(provider)


def add_unrestricted_provider(
    provider: Callable[[], contextlib.AbstractContextManager[None]],
) -> None:
    """Let an executor make ``unsafe.sandbox_unrestricted()`` meaningful (Temporal's)."""
    if provider not in _unrestricted_providers:
        _unrestricted_providers.append(provider)
