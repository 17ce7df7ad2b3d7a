"""The corpus: each sample's behaviour (``turnout.testing.contract.corpus``) gives the
same result, and where the scenario says so the same normalized timeline, on every
executor. A failure names the sample."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

import pytest

pytest.register_assert_rewrite("turnout.testing.contract.corpus")

from turnout.testing.contract import corpus  # noqa: E402
from turnout.testing.harness import ExecutorHarness  # noqa: E402

pytestmark = pytest.mark.asyncio

SCENARIO_SECONDS = 60.0
"""No scenario may take longer than this."""


@pytest.fixture
def turnout_workflows() -> Sequence[type]:
    return corpus.WORKFLOWS


@pytest.fixture
def turnout_activities() -> Sequence[Callable[..., Any]]:
    return corpus.ACTIVITIES


@pytest.mark.parametrize("sample", sorted(corpus.SCENARIOS))
async def test_sample(executor: ExecutorHarness, sample: str) -> None:
    async with asyncio.timeout(SCENARIO_SECONDS):
        await corpus.SCENARIOS[sample](executor)
