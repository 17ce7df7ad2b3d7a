"""The HTTP API in process (httpx over ASGI), on SQLite, PostgreSQL and Temporal: starts,
descriptions, listings and event streams.

One app per test, configured by settings only, with two tenants' tokens; workers run
in this process on the app's own tenant client (http_api_kit.py). Signals, queries and
approvals are in test_http_api_control.py, authentication, tenants and bad bodies in
test_http_api_access.py.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from tests.integration.http_api_kit import (
    TENANT_A,
    Api,
    eventually,
    list_runs,
    new_queue,
    start,
    wait_state,
)
from tests.integration.http_api_kit import api as api  # the fixture
from tests.integration.http_api_kit import internal_api as internal_api  # the fixture

# -- start, describe, events ----------------------------------------------------------------


async def test_start_answers_202_before_any_worker_and_a_worker_then_completes_it(
    api: Api,
) -> None:
    queue = new_queue()
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
    started = await start(internal_api, "HelloWorkflow", new_queue(), "ada")
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
    queue = new_queue()
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
    queue = new_queue()
    started = await start(api, "BrokenWorkflow", queue, "k")
    async with api.worker(queue):
        done = await wait_state(api.a, started["workflow_id"], "failed")
    assert done["failure"]["message"]
    assert done["result"] is None


async def test_the_same_idempotency_key_returns_the_same_run(api: Api) -> None:
    queue = new_queue()
    key = f"key-{uuid.uuid4().hex[:8]}"
    body = {"workflow": "HelloWorkflow", "args": ["bo"], "task_queue": queue}

    first = await api.a.post("/workflows", json=body, headers={"Idempotency-Key": key})
    again = await api.a.post("/workflows", json=body, headers={"Idempotency-Key": key})
    in_body = await api.a.post("/workflows", json={**body, "idempotency_key": key})

    assert first.status_code == 202, first.text
    assert (again.status_code, in_body.status_code) == (200, 200)
    assert again.json()["run_id"] == first.json()["run_id"] == in_body.json()["run_id"]
    listed = await eventually(lambda: list_runs(api.a, task_queue=queue), what="the run listed")
    assert len(listed) == 1
    mismatch = await api.a.post(
        "/workflows", json={**body, "idempotency_key": "x"}, headers={"Idempotency-Key": "y"}
    )
    assert mismatch.status_code == 422
    assert mismatch.json()["error"]["code"] == "idempotency_key_mismatch"


async def test_concurrent_starts_with_one_key_make_one_run_and_one_202(internal_api: Api) -> None:
    queue = new_queue()
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
    queue = new_queue()
    started = await start(api, "SleepyWorkflow", queue)
    again = await api.a.post(
        "/workflows",
        json={"workflow": "SleepyWorkflow", "task_queue": queue, "id": started["workflow_id"]},
    )
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "workflow_already_started"


async def test_runs_are_filtered_and_paginated_without_repeats(api: Api) -> None:
    queue = new_queue()
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

    only = await list_runs(api.a, task_queue=queue, type="SleepyWorkflow")
    assert [r["workflow_id"] for r in only] == [sleepy]
    if api.executor == "internal":
        queued = await list_runs(api.a, task_queue=queue, state="queued")
        assert len(queued) == 7
    assert await list_runs(api.a, task_queue=queue, state="completed") == []
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
    queue = new_queue()
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
    return len(await list_runs(http, **params)) >= count


async def test_an_open_event_stream_polls_new_events_only_and_ends_when_woken_by_the_close(
    internal_api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = await start(internal_api, "SleepyWorkflow", new_queue())
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


async def test_list_takes_a_query_in_temporals_language(api: Api) -> None:
    queue = new_queue()
    ids = [(await start(api, "HelloWorkflow", queue, "q"))["workflow_id"] for _ in range(3)]
    query = f"WorkflowId IN ('{ids[0]}', '{ids[2]}') AND ExecutionStatus = 'Running'"

    async def listed() -> set[str] | None:
        found = {run["workflow_id"] for run in await list_runs(api.a, query=query)}
        return found if found == {ids[0], ids[2]} else None

    assert await eventually(listed, what="the queried runs") == {ids[0], ids[2]}
    assert await list_runs(api.b, query=query) == []  # another tenant's runs stay apart
    for bad, names in (
        ("WorkflowId = 'a' )", "')' at column 18"),
        ("ORDER BY StartTime", "ORDER BY"),
    ):
        refused = await api.a.get("/workflows", params={"query": bad})
        assert refused.status_code == 422, refused.text
        assert names in refused.json()["error"]["message"]
