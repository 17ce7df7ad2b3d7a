"""The HTTP API in process (httpx over ASGI), on SQLite, PostgreSQL and Temporal.

One app per test, configured by settings only, with two tenants' tokens; workers run
in this process on the app's own tenant client.
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
from turnout.http.auth import CONSOLE_HEADER, COOKIE, new_token, token_line

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


def _queue() -> str:
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


# -- start, describe, events ----------------------------------------------------------------


async def test_start_answers_202_before_any_worker_and_a_worker_then_completes_it(
    api: Api,
) -> None:
    queue = _queue()
    workflow_id = f"hello-{uuid.uuid4().hex[:8]}"
    started = await start(api, "HelloWorkflow", queue, "ada", id=workflow_id, correlation_id="c-1")

    assert started["workflow_id"] == workflow_id
    assert started["state"] == "queued"
    assert started["correlation_id"] == "c-1"
    described = (await api.a.get(f"/workflows/{workflow_id}")).json()
    assert described["run_id"] == started["run_id"]
    assert described["state"] in {"queued", "running"}  # Temporal has no "queued": running
    assert described["closed_at"] is None
    if api.executor == "internal":  # nothing has claimed it: no worker runs yet
        assert (described["state"], described["started_at"]) == ("queued", None)
        assert described["input"] == ["ada"]

    async with api.worker(queue):
        done = await wait_state(api.a, workflow_id, "completed")

    assert done["result"] == "HELLO, ADA!"
    events = (await api.a.get(f"/workflows/{workflow_id}/events")).json()
    assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)
    assert events[0]["type"] == "workflow_started"
    assert events[-1]["type"] in {"workflow_completed", "state_changed"}
    assert {e["correlation_id"] for e in events} == {"c-1"}
    later = (await api.a.get(f"/workflows/{workflow_id}/events", params={"after": 2})).json()
    assert [e["seq"] for e in later] == [e["seq"] for e in events if e["seq"] > 2]


async def test_describe_reads_the_input_without_reading_the_history(
    internal_api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = await start(internal_api, "HelloWorkflow", _queue(), "ada")
    store = (await internal_api.client_of(TENANT_A)).store

    async def no_history(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("describe read the run's events")

    monkeypatch.setattr(store, "events", no_history)
    monkeypatch.setattr(store, "load_history", no_history)
    described = await internal_api.a.get(f"/workflows/{started['workflow_id']}")
    assert described.status_code == 200, described.text
    assert described.json()["input"] == ["ada"]
    assert (await internal_api.b.get(f"/workflows/{started['workflow_id']}")).status_code == 404


async def test_workflow_ids_ending_like_a_route_are_reached_with_an_encoded_slash(
    api: Api,
) -> None:
    queue = _queue()
    tag = uuid.uuid4().hex[:6]
    ids = [f"{tag}/events", f"{tag}/cancel", f"{tag}/approvals", f"{tag}/artifacts"]
    for workflow_id in ids:
        await start(api, "SleepyWorkflow", queue, id=workflow_id)
    for workflow_id in ids:
        encoded = workflow_id.replace("/", "%2F")
        described = await api.a.get(f"/workflows/{encoded}")
        assert described.status_code == 200, described.text
        assert described.json()["workflow_id"] == workflow_id
        events = await api.a.get(f"/workflows/{encoded}/events")
        assert events.status_code == 200, events.text
        assert {e["workflow_id"] for e in events.json()} <= {workflow_id}
    cancelled = await api.a.post(f"/workflows/{tag}%2Fcancel/cancel")
    assert cancelled.status_code == 202, cancelled.text
    assert cancelled.json()["workflow_id"] == f"{tag}/cancel"
    # Without the encoding, the last segment is the route, as before.
    assert (await api.a.get(f"/workflows/{tag}/approvals")).status_code == 404


async def test_a_failed_run_shows_its_failure(api: Api) -> None:
    queue = _queue()
    started = await start(api, "BrokenWorkflow", queue, "k")
    async with api.worker(queue):
        done = await wait_state(api.a, started["workflow_id"], "failed")
    assert done["failure"]["message"]
    assert done["result"] is None


async def test_the_same_idempotency_key_returns_the_same_run(api: Api) -> None:
    queue = _queue()
    key = f"key-{uuid.uuid4().hex[:8]}"
    body = {"workflow": "HelloWorkflow", "args": ["bo"], "task_queue": queue}

    first = await api.a.post("/workflows", json=body, headers={"Idempotency-Key": key})
    again = await api.a.post("/workflows", json=body, headers={"Idempotency-Key": key})
    in_body = await api.a.post("/workflows", json={**body, "idempotency_key": key})

    assert first.status_code == 202, first.text
    assert (again.status_code, in_body.status_code) == (200, 200)
    assert again.json()["run_id"] == first.json()["run_id"] == in_body.json()["run_id"]
    listed = await eventually(lambda: _listed(api.a, task_queue=queue), what="the run listed")
    assert len(listed) == 1
    mismatch = await api.a.post(
        "/workflows", json={**body, "idempotency_key": "x"}, headers={"Idempotency-Key": "y"}
    )
    assert mismatch.status_code == 422
    assert mismatch.json()["error"]["code"] == "idempotency_key_mismatch"


async def test_concurrent_starts_with_one_key_make_one_run_and_one_202(internal_api: Api) -> None:
    queue = _queue()
    key = f"key-{uuid.uuid4().hex[:8]}"
    body = {"workflow": "HelloWorkflow", "args": ["bo"], "task_queue": queue}
    answers = await asyncio.gather(
        *(
            internal_api.a.post("/workflows", json=body, headers={"Idempotency-Key": key})
            for _ in range(4)
        )
    )
    assert sorted(r.status_code for r in answers) == [200, 200, 200, 202], [r.text for r in answers]
    assert len({r.json()["run_id"] for r in answers}) == 1


async def test_starting_an_open_workflow_id_again_is_a_conflict(api: Api) -> None:
    queue = _queue()
    started = await start(api, "SleepyWorkflow", queue)
    again = await api.a.post(
        "/workflows",
        json={"workflow": "SleepyWorkflow", "task_queue": queue, "id": started["workflow_id"]},
    )
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "workflow_already_started"


async def _listed(http: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    response = await http.get("/workflows", params=params)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_runs_are_filtered_and_paginated_without_repeats(api: Api) -> None:
    queue = _queue()
    hellos = [(await start(api, "HelloWorkflow", queue, f"n{i}"))["workflow_id"] for i in range(5)]
    sleepy = (await start(api, "SleepyWorkflow", queue))["workflow_id"]
    await eventually(lambda: _has(api.a, 6, task_queue=queue), what="six runs visible", timeout=30)

    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"task_queue": queue, "limit": 2, "type": "HelloWorkflow"}
        if cursor:
            params["cursor"] = cursor
        # A run started between pages does not shift them.
        if pages == 1:
            await start(api, "HelloWorkflow", queue, "late")
        page = (await api.a.get("/workflows", params=params)).json()
        seen.extend(r["workflow_id"] for r in page["items"])
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(hellos)
    assert pages == 3

    only = await _listed(api.a, task_queue=queue, type="SleepyWorkflow")
    assert [r["workflow_id"] for r in only] == [sleepy]
    if api.executor == "internal":
        queued = await _listed(api.a, task_queue=queue, state="queued")
        assert len(queued) == 7
    assert await _listed(api.a, task_queue=queue, state="completed") == []
    bad = await api.a.get("/workflows", params={"state": "asleep"})
    assert bad.status_code == 422
    assert "queued" in bad.json()["error"]["message"]
    bad_cursor = await api.a.get("/workflows", params={"cursor": "nonsense"})
    assert bad_cursor.json()["error"]["code"] == "invalid_cursor"
    bad_limit = await api.a.get("/workflows", params={"limit": "0"})
    assert bad_limit.status_code == 422


async def test_a_page_reads_at_most_limit_plus_one_runs_however_many_started_since(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue = _queue()
    first = [(await start(api, "HelloWorkflow", queue, f"n{i}"))["workflow_id"] for i in range(3)]
    await eventually(lambda: _has(api.a, 3, task_queue=queue), what="three runs visible")
    client = await api.client_of(TENANT_A)
    reads: list[tuple[int, int]] = []
    # Temporal lists a page of its visibility store; the internal executor, rows.
    method = "list_workflows_page" if api.executor == "temporal" else "list_workflows"
    listing = getattr(client, method)

    async def counted(**kwargs: Any) -> Any:
        found = await listing(**kwargs)
        runs = found[0] if isinstance(found, tuple) else found
        reads.append((kwargs["limit"], len(runs)))
        return found

    monkeypatch.setattr(client, method, counted)
    wanted = 2 if api.executor == "temporal" else 3  # the limit (+ 1 for the next cursor)
    page = (await api.a.get("/workflows", params={"task_queue": queue, "limit": 2})).json()
    assert reads == [(wanted, wanted)]
    # Many runs start after the first page: the next page still reads one page's worth.
    for i in range(12):
        await start(api, "HelloWorkflow", queue, f"late{i}")
    await eventually(lambda: _has(api.a, 15, task_queue=queue), what="all runs visible")
    reads.clear()
    rest = (
        await api.a.get(
            "/workflows", params={"task_queue": queue, "limit": 2, "cursor": page["next_cursor"]}
        )
    ).json()
    assert [r["workflow_id"] for r in page["items"] + rest["items"]] == first[::-1]
    assert rest["next_cursor"] is None
    assert reads == [(wanted, 1)]


async def _has(http: httpx.AsyncClient, count: int, **params: Any) -> bool:
    return len(await _listed(http, **params)) >= count


async def test_an_open_event_stream_polls_new_events_only_and_ends_when_woken_by_the_close(
    internal_api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = await start(internal_api, "SleepyWorkflow", _queue())
    workflow_id = started["workflow_id"]
    store = (await internal_api.client_of(TENANT_A)).store
    reads = {"events": 0, "find_run": 0}
    polled = asyncio.Event()
    events, find_run = store.events, store.find_run

    async def counted_events(*args: Any, **kwargs: Any) -> Any:
        reads["events"] += 1
        if reads["events"] >= 10:
            polled.set()
        return await events(*args, **kwargs)

    async def counted_find_run(*args: Any, **kwargs: Any) -> Any:
        reads["find_run"] += 1
        return await find_run(*args, **kwargs)

    monkeypatch.setattr(store, "events", counted_events)
    monkeypatch.setattr(store, "find_run", counted_find_run)
    # The in-process transport hands the body over once the stream has ended.
    stream = asyncio.create_task(
        internal_api.a.get(
            f"/workflows/{workflow_id}/events", headers={"Accept": "text/event-stream"}
        )
    )
    async with asyncio.timeout(20):
        await polled.wait()
    assert reads["find_run"] <= 1, reads  # the stream's own start: describe() once
    terminated = await internal_api.a.post(f"/workflows/{workflow_id}/terminate")
    assert terminated.status_code == 200, terminated.text
    async with asyncio.timeout(20):
        response = await stream
    assert "event: workflow_terminated" in response.text


# -- signals, queries, cancel, terminate ----------------------------------------------------


async def test_signals_and_queries_steer_a_run_to_its_end(api: Api) -> None:
    queue = _queue()
    workflow_id = (await start(api, "SignalWorkflow", queue))["workflow_id"]
    async with api.worker(queue):
        sent = await api.a.post(f"/workflows/{workflow_id}/signals/add", json={"args": ["a"]})
        assert sent.status_code == 202, sent.text
        assert sent.json()["signal"] == "add"

        async def counted() -> bool:
            answer = await api.a.get(f"/workflows/{workflow_id}/queries/count")
            assert answer.status_code == 200, answer.text
            return bool(answer.json()["result"] == 1)

        await eventually(counted, what="the query sees the signal")
        with_args = await api.a.get(
            f"/workflows/{workflow_id}/queries/count", params={"args": "not json"}
        )
        assert with_args.json()["error"]["code"] == "invalid_parameter"
        unknown = await api.a.get(f"/workflows/{workflow_id}/queries/nope")
        assert unknown.status_code == 422
        assert unknown.json()["error"]["code"] == "query_failed"

        finish = await api.a.post(f"/workflows/{workflow_id}/signals/finish")
        assert finish.status_code == 202
        done = await wait_state(api.a, workflow_id, "completed")

    assert done["result"] == ["a"]
    late = await api.a.post(f"/workflows/{workflow_id}/signals/add", json={"args": ["b"]})
    assert late.status_code == 409
    assert late.json()["error"]["code"] == "run_closed"
    bad = await api.a.post(f"/workflows/{workflow_id}/signals/add", json={"args": "b"})
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "invalid_request"


async def test_cancel_and_terminate(api: Api) -> None:
    queue = _queue()
    to_cancel = (await start(api, "SleepyWorkflow", queue))["workflow_id"]
    to_end = (await start(api, "SleepyWorkflow", queue))["workflow_id"]
    async with api.worker(queue):
        await wait_state(api.a, to_cancel, "running")
        canceled = await api.a.post(f"/workflows/{to_cancel}/cancel")
        assert canceled.status_code == 202, canceled.text
        ended = await api.a.post(f"/workflows/{to_end}/terminate", json={"reason": "not needed"})
        assert ended.status_code == 200, ended.text
        await wait_state(api.a, to_cancel, "canceled")
    await wait_state(api.a, to_end, "terminated")
    again = await api.a.post(f"/workflows/{to_end}/terminate", json={})
    assert again.status_code == 409


# -- governance -----------------------------------------------------------------------------


async def test_approvals_are_listed_approved_once_and_rejected(api: Api) -> None:
    queue = _queue()
    deploy = (await start(api, "Deploy", queue, "prod"))["workflow_id"]
    other = (await start(api, "Deploy", queue, "staging"))["workflow_id"]
    async with api.worker(queue, policies=[gw.guard_policy]):
        await wait_state(api.a, deploy, "waiting_approval")
        await wait_state(api.a, other, "waiting_approval")

        async def pending() -> list[dict[str, Any]]:
            items: list[dict[str, Any]] = (await api.a.get("/approvals")).json()["items"]
            return [a for a in items if a["workflow_id"] in {deploy, other}]

        listed = await eventually(lambda: _both(pending), what="both approvals listed")
        assert {(a["name"], a["state"]) for a in listed} == {("deploy", "pending")}
        [mine] = (await api.a.get(f"/workflows/{deploy}/approvals")).json()
        assert (mine["name"], mine["details"]) == ("deploy", {"env": "prod"})
        unknown = await api.a.post(
            f"/workflows/{deploy}/approvals/launch/approve", json={"by": "alice"}
        )
        assert unknown.status_code == 404
        assert unknown.json()["error"]["code"] == "approval_not_found"
        nobody = await api.a.post(f"/workflows/{deploy}/approvals/deploy/approve", json={})
        assert nobody.status_code == 422

        approved = await api.a.post(
            f"/workflows/{deploy}/approvals/deploy/approve",
            json={"by": "alice", "reason": "ticket 42"},
        )
        assert approved.status_code == 200, approved.text
        assert (approved.json()["outcome"], approved.json()["decided_by"]) == ("approved", "alice")
        twice = await api.a.post(
            f"/workflows/{deploy}/approvals/deploy/reject", json={"by": "mallory"}
        )
        assert twice.status_code == 409
        assert twice.json()["error"]["code"] in {"approval_already_decided", "run_closed"}

        rejected = await api.a.post(
            f"/workflows/{other}/approvals/deploy/reject", json={"by": "bob", "reason": "freeze"}
        )
        assert rejected.status_code == 200, rejected.text
        shipped = await wait_state(api.a, deploy, "completed")
        held = await wait_state(api.a, other, "completed")

    assert shipped["result"] == "shipped to prod, approved by alice (ticket 42)"
    assert held["result"] == "not shipped: rejected by bob"
    decisions = (await api.a.get(f"/workflows/{deploy}/decisions")).json()
    assert [
        (d["name"], d["outcome"], d["decided_by"]) for d in decisions if d["name"] == "deploy"
    ] == [("deploy", "approved", "alice")]


async def _both(pending: Callable[[], Awaitable[list[dict[str, Any]]]]) -> Any:
    found = await pending()
    return found if len(found) == 2 else None


async def test_artifacts_are_listed(api: Api) -> None:
    queue = _queue()
    reports = (await start(api, "Reports", queue))["workflow_id"]
    async with api.worker(queue):
        await wait_state(api.a, reports, "completed")
    artifacts = (await api.a.get(f"/workflows/{reports}/artifacts")).json()
    assert [(a["name"], a["media_type"], a["size_bytes"]) for a in artifacts] == [
        ("q1", "application/pdf", 2048),
        ("q2", "application/pdf", 2048),
    ]


async def test_queues_show_depth_and_lag_or_say_why_not(api: Api) -> None:
    queue = _queue()
    await start(api, "HelloWorkflow", queue, "q")
    body = (await api.a.get("/queues")).json()
    if api.executor == "temporal":
        assert body["items"] == []
        assert "Temporal" in body["note"]
        return
    [mine] = [q for q in body["items"] if q["task_queue"] == queue]
    assert mine["depth"] == 1
    assert mine["lag_seconds"] >= 0


# -- authentication and tenants -------------------------------------------------------------


async def test_no_token_or_a_wrong_token_is_401_and_health_is_open(api: Api) -> None:
    for path in ("/workflows", "/approvals", "/queues", "/workflows/x/events"):
        missing = await api.anonymous.get(path)
        assert missing.status_code == 401
        assert missing.json()["error"]["code"] == "unauthorized"
        assert "Bearer" in missing.headers["www-authenticate"]
    wrong = await api.anonymous.get("/workflows", headers={"Authorization": "Bearer tnt_nope"})
    assert wrong.json()["error"]["code"] == "invalid_token"
    basic = await api.anonymous.get("/workflows", headers={"Authorization": "Basic eDp5"})
    assert basic.status_code == 401
    posted = await api.anonymous.post(
        "/workflows", json={"workflow": "HelloWorkflow", "task_queue": "q"}
    )
    assert posted.status_code == 401
    health = await api.anonymous.get("/healthz")
    assert health.json() == {"status": "ok", "executor": api.executor}
    spec = await api.anonymous.get("/openapi.json")
    assert spec.status_code == 200
    assert "/workflows/{id}/approvals/{name}/approve" in spec.json()["paths"]


async def test_another_tenants_run_is_not_found_and_never_changed(api: Api) -> None:
    queue = _queue()
    workflow_id = (await start(api, "SignalWorkflow", queue))["workflow_id"]
    before = (await api.a.get(f"/workflows/{workflow_id}/events")).json()

    for method, path, body in [
        ("GET", "", None),
        ("GET", "/events", None),
        ("GET", "/approvals", None),
        ("GET", "/decisions", None),
        ("GET", "/artifacts", None),
        ("GET", "/queries/count", None),
        ("POST", "/signals/add", {"args": ["intruder"]}),
        ("POST", "/cancel", None),
        ("POST", "/terminate", {"reason": "not yours"}),
        ("POST", "/approvals/deploy/approve", {"by": "mallory"}),
    ]:
        response = await api.b.request(method, f"/workflows/{workflow_id}{path}", json=body)
        assert response.status_code == 404, (path, response.text)
        assert response.json()["error"]["code"] == "workflow_not_found"

    # Other tests' runs of tenant B may exist (one Temporal namespace per tenant): look
    # for this test's run only.
    assert [r["workflow_id"] for r in await _listed(api.b, task_queue=queue)] == []
    pending_b = (await api.b.get("/approvals")).json()["items"]
    assert [a for a in pending_b if a["workflow_id"] == workflow_id] == []
    assert (await api.a.get(f"/workflows/{workflow_id}/events")).json() == before
    assert await state_of(api.a, workflow_id) in {"queued", "running"}


async def test_the_console_cookie_works_and_its_changes_need_the_console_header(
    api: Api,
) -> None:
    queue = _queue()
    workflow_id = (await start(api, "SleepyWorkflow", queue))["workflow_id"]
    cookie = {"Cookie": f"{COOKIE}={api.token_a}"}
    read = await api.anonymous.get(f"/workflows/{workflow_id}", headers=cookie)
    assert read.status_code == 200

    forged = await api.anonymous.post(f"/workflows/{workflow_id}/cancel", headers=cookie)
    assert forged.status_code == 403
    assert forged.json()["error"]["code"] == "csrf"
    assert await state_of(api.a, workflow_id) in {"queued", "running"}

    allowed = await api.anonymous.post(
        f"/workflows/{workflow_id}/terminate",
        headers={**cookie, CONSOLE_HEADER: "1"},
        json={"reason": "from the console"},
    )
    assert allowed.status_code == 200, allowed.text


# -- bad input ------------------------------------------------------------------------------


async def test_bad_bodies_are_refused_and_nothing_is_started(api: Api) -> None:
    queue = _queue()
    cases: list[tuple[Any, int, str]] = [
        (b"{not json", 400, "invalid_json"),
        (b'{"workflow": "HelloWorkflow", "task_queue": "q", "args": [NaN]}', 400, "invalid_json"),
        ({"workflow": "HelloWorkflow"}, 422, "invalid_request"),
        ({"workflow": "HelloWorkflow", "task_queue": queue, "extra": 1}, 422, "invalid_request"),
        ({"workflow": "", "task_queue": queue}, 422, "invalid_request"),
        (
            {"workflow": "HelloWorkflow", "task_queue": queue, "args": ["a\x00b"]},
            422,
            "invalid_input",
        ),
        (
            {"workflow": "HelloWorkflow", "task_queue": queue, "id": "bad\nid"},
            422,
            "invalid_request",
        ),
    ]
    for body, status, code in cases:
        if isinstance(body, bytes):
            response = await api.a.post(
                "/workflows", content=body, headers={"Content-Type": "application/json"}
            )
        else:
            response = await api.a.post("/workflows", json=body)
        assert (response.status_code, response.json()["error"]["code"]) == (status, code), body
        assert response.json()["error"]["message"]
    assert await _listed(api.a, task_queue=queue) == []


async def test_a_body_over_the_payload_limit_is_refused_unread(api: Api) -> None:
    limit = api.app.state.turnout.settings.max_payload_bytes
    huge = {"workflow": "HelloWorkflow", "task_queue": _queue(), "args": ["x" * (limit + 70_000)]}
    response = await api.a.post("/workflows", json=huge)
    assert response.status_code == 413
    assert "TURNOUT_MAX_PAYLOAD_BYTES" in response.json()["error"]["message"]
    just_over = {**huge, "args": ["x" * (limit + 10)]}
    refused = await api.a.post("/workflows", json=just_over)
    assert refused.status_code in {413, 422}, refused.text
    if api.executor == "internal":  # the executor's own limit; Temporal has its server's
        assert refused.json()["error"]["code"] == "payload_too_large"
