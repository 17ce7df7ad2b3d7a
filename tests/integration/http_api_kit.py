"""What the HTTP API tests (``test_http_api*.py``) share.

:class:`Api` (the app in process with two tenants' HTTP clients), the ``api`` fixture
(on SQLite, PostgreSQL and Temporal) and ``internal_api`` (the internal executor only)
that the test modules import, the tokens file, and the waits and the start request
the tests make.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

import turnout
from tests import governance_workflows as gw
from tests.workflows_for_tests import ALL_ACTIVITIES, ALL_WORKFLOWS
from turnout.config import Settings, load_settings
from turnout.http import create_app
from turnout.http.auth import new_token, token_line

TENANT_A = "tenant-a"
TENANT_B = "tenant-b"
WORKFLOWS = [*ALL_WORKFLOWS, *gw.WORKFLOWS]
ACTIVITIES = [*ALL_ACTIVITIES, *gw.ACTIVITIES]


@dataclass
class Api:
    """The app under test: tenant A's and tenant B's HTTP clients, and the app."""

    a: httpx.AsyncClient
    b: httpx.AsyncClient
    anonymous: httpx.AsyncClient
    app: Any
    executor: str
    token_a: str

    async def client_of(self, tenant: str) -> Any:
        return await self.app.state.turnout.hub.client(tenant)

    @asynccontextmanager
    async def worker(self, queue: str, **options: Any) -> AsyncIterator[None]:
        """A worker for tenant A's queue, on the app's own tenant client."""
        client = await self.client_of(TENANT_A)
        async with turnout.Worker(
            client, task_queue=queue, workflows=WORKFLOWS, activities=ACTIVITIES, **options
        ):
            yield


def write_tokens(path: Path) -> dict[str, str]:
    tokens = {TENANT_A: new_token(), TENANT_B: new_token()}
    lines = ["# tokens of the tests", *(token_line(t, tok) for t, tok in tokens.items())]
    path.write_text("\n".join(lines) + "\n")
    return tokens


def executor_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    if request.param == "temporal":
        return load_settings(
            executor="temporal", temporal_address=request.getfixturevalue("temporal_address")
        )
    if request.param == "postgres":
        return load_settings(database_url=request.getfixturevalue("postgres_url"))
    return load_settings(database_url=f"sqlite:///{tmp_path}/api.db")


@pytest.fixture(params=["sqlite", "postgres", "temporal"])
async def api(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Api]:
    async for served in _serve(request, tmp_path):
        yield served


@pytest.fixture(params=["sqlite", "postgres"])
async def internal_api(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Api]:
    """The app on the internal executor only, for what only it offers."""
    async for served in _serve(request, tmp_path):
        yield served


async def _serve(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Api]:
    settings = executor_settings(request, tmp_path)
    tokens = write_tokens(tmp_path / "tokens")
    app = create_app(
        settings, tokens_file=tmp_path / "tokens", workflows=WORKFLOWS, sse_poll_interval=0.05
    )
    transport = httpx.ASGITransport(app=app)

    def http(token: str | None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.AsyncClient(
            transport=transport, base_url="http://turnout.test", headers=headers, timeout=30
        )

    async with (
        app.router.lifespan_context(app),
        http(tokens[TENANT_A]) as a,
        http(tokens[TENANT_B]) as b,
        http(None) as anonymous,
    ):
        yield Api(a, b, anonymous, app, settings.executor.value, tokens[TENANT_A])


def new_queue() -> str:
    """A fresh task queue name."""
    return f"http-{uuid.uuid4().hex[:8]}"


async def eventually(
    check: Callable[[], Awaitable[Any]], *, timeout: float = 20, what: str = "condition"
) -> Any:
    """Poll ``check`` until it returns a truthy value (for other processes' progress and
    Temporal's eventually consistent visibility)."""
    async with asyncio.timeout(timeout):
        while True:
            value = await check()
            if value:
                return value
            await asyncio.sleep(0.05)


async def state_of(http: httpx.AsyncClient, workflow_id: str) -> str:
    response = await http.get(f"/workflows/{workflow_id}")
    assert response.status_code == 200, response.text
    state: str = response.json()["state"]
    return state


async def wait_state(http: httpx.AsyncClient, workflow_id: str, *states: str) -> dict[str, Any]:
    async def reached() -> dict[str, Any] | None:
        response = await http.get(f"/workflows/{workflow_id}")
        body: dict[str, Any] = response.json()
        return body if body["state"] in states else None

    found: dict[str, Any] = await eventually(reached, what=f"{workflow_id} in {states}")
    return found


async def start(api: Api, workflow: str, queue: str, *args: Any, **extra: Any) -> dict[str, Any]:
    body = {"workflow": workflow, "args": list(args), "task_queue": queue, **extra}
    response = await api.a.post("/workflows", json=body)
    assert response.status_code == 202, response.text
    started: dict[str, Any] = response.json()
    return started


async def list_runs(http: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    """The runs of the first page ``GET /workflows`` lists with ``params``."""
    response = await http.get("/workflows", params=params)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items
