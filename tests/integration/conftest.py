"""Fixtures for the internal executor's integration tests: every test on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

import turnout
from tests.workflows_for_tests import ALL_ACTIVITIES, ALL_WORKFLOWS


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    """A fresh database of each kind."""
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[turnout.contracts.Client]:
    c = await turnout.connect(executor="internal", database_url=database_url)
    try:
        yield c
    finally:
        await c.close()


@pytest.fixture
async def worker(client: turnout.contracts.Client) -> AsyncIterator[turnout.Worker]:
    async with turnout.Worker(
        client, task_queue="tests", workflows=ALL_WORKFLOWS, activities=ALL_ACTIVITIES
    ) as w:
        yield w


@pytest.fixture(params=["sqlite", "postgres", "temporal"])
async def executor_client(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    """A client of each executor, chosen purely by settings, for the same workflow module."""
    if request.param == "temporal":
        settings = {
            "executor": "temporal",
            "temporal_address": request.getfixturevalue("temporal_address"),
        }
    else:
        fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
        settings = {"executor": "internal", "database_url": request.getfixturevalue(fixture)}
    c = await turnout.connect(**settings)
    try:
        yield c
    finally:
        await c.close()
