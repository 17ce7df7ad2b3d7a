"""Workflows for tests/unit/test_sandbox_checks.py: one module the sandbox accepts and
one it refuses (it reads the wall clock when imported, which workflow code may not)."""

from __future__ import annotations

import datetime
import os

from turnout import workflow

if os.environ.get("TURNOUT_TEST_SANDBOX_CLOCK") == "1":
    IMPORTED_AT = datetime.datetime.now()


def _refused() -> type[Exception]:
    class Refused(Exception):
        """A failure type the sandbox cannot import (it lives in a function)."""

    return Refused


Refused = _refused()


@workflow.defn
class Accepted:
    """Returns its input."""

    @workflow.run
    async def run(self, value: str) -> str:
        """Return ``value``."""
        return value
