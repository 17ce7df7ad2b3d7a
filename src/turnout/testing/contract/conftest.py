"""The contract suite's worker runs the scenario workflows of this package."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest

from turnout.testing.contract.workflows import ACTIVITIES, WORKFLOWS


@pytest.fixture
def turnout_workflows() -> Sequence[type]:
    return WORKFLOWS


@pytest.fixture
def turnout_activities() -> Sequence[Callable[..., Any]]:
    return ACTIVITIES
