"""What ``workflow.continue_as_new`` raises on the internal executor."""

from __future__ import annotations

from typing import Any

__all__ = ["ContinueAsNewError"]


class ContinueAsNewError(BaseException):
    """Raised by ``workflow.continue_as_new``; ends the run (a BaseException, so
    ``except Exception`` in workflow code does not swallow it)."""

    def __init__(
        self, workflow_type: str | None, args: list[Any], header: dict[str, Any] | None = None
    ) -> None:
        super().__init__("continue as new")
        self.workflow_type = workflow_type
        self.next_args = args
        self.header = header or {}
        """The payloads the workflow's interceptors set for the next run."""
