"""The HTTP API shows who works and what waits: each task queue's workers in ``GET /queues``
(a queue with work and no worker flagged), ``GET /workers``, and what an open run waits
on in ``GET /workflows/{id}``, on SQLite, PostgreSQL and Temporal (http_api_kit.py).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import turnout
from tests.integration.http_api_kit import TENANT_A, Api, eventually, new_queue, start
from tests.integration.http_api_kit import api as api  # the fixture
from turnout.testing.contract.workflows_pending import PENDING_ACTIVITIES, PENDING_WORKFLOWS


async def _queues(api: Api, **params: str) -> dict[str, Any]:
    response = await api.a.get("/queues", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _item(body: dict[str, Any], queue: str) -> dict[str, Any]:
    [item] = [q for q in body["items"] if q["task_queue"] == queue]
    return item


@asynccontextmanager
async def _pending_worker(api: Api, queue: str) -> AsyncIterator[None]:
    client = await api.client_of(TENANT_A)
    async with turnout.Worker(
        client, task_queue=queue, workflows=PENDING_WORKFLOWS, activities=PENDING_ACTIVITIES
    ):
        yield


async def test_queues_list_their_workers_and_flag_work_nobody_polls(api: Api) -> None:
    polled, forgotten = new_queue(), new_queue()
    await start(api, "HelloWorkflow", forgotten, "nobody")
    async with api.worker(polled):
        if api.executor == "temporal":
            # Temporal lists a queue's pollers, not its queues: a queue is named.
            body = await _queues(api)
            assert body["items"] == []
            assert "task_queue=" in body["note"]

            async def polling() -> dict[str, Any] | None:
                item = _item(await _queues(api, task_queue=polled), polled)
                return item if item["workers"] else None

            mine = await eventually(polling, what="the worker polls")
            assert mine["depth"] is None
            assert mine["no_worker"] is False
            nobody = _item(await _queues(api, task_queue=forgotten), forgotten)
            assert nobody["workers"] == []
            assert nobody["no_worker"] is True
            refused = await api.a.get("/workers")
            assert refused.status_code == 422
            assert "task_queue" in refused.json()["error"]["message"]
        else:
            body = await _queues(api)
            mine = _item(body, polled)  # no work yet: listed for its worker
            assert (mine["depth"], mine["no_worker"]) == (0, False)
            [worker] = mine["workers"]
            assert worker["pid"] == os.getpid()
            assert worker["host"]
            assert "HelloWorkflow" in worker["workflow_types"]
            assert worker["activity_types"]
            assert worker["last_seen_at"]
            nobody = _item(body, forgotten)
            assert (nobody["depth"], nobody["workers"], nobody["no_worker"]) == (1, [], True)
            one = await _queues(api, task_queue=polled)
            assert [q["task_queue"] for q in one["items"]] == [polled]
            every = (await api.a.get("/workers")).json()["items"]
            assert worker["identity"] in [w["identity"] for w in every]
            # Another tenant sees neither the queue nor its worker.
            other = (await api.b.get("/queues")).json()["items"]
            assert polled not in [q["task_queue"] for q in other]
            assert (await api.b.get("/workers")).json()["items"] == []
        listed = await api.a.get("/workers", params={"task_queue": polled})
        assert listed.status_code == 200, listed.text
        [worker] = listed.json()["items"]
        assert worker["task_queue"] == polled
        assert worker["identity"] == mine["workers"][0]["identity"]
    bad = await api.a.get("/queues", params={"task_queue": "a\x00b"})
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "invalid_parameter"


async def test_describe_shows_what_an_open_run_waits_on_and_why_it_is_stuck(api: Api) -> None:
    queue = new_queue()
    workflow_id = (await start(api, "StuckOrder", queue, "o-7"))["workflow_id"]
    async with _pending_worker(api, queue):

        async def retried() -> dict[str, Any] | None:
            run: dict[str, Any] = (await api.a.get(f"/workflows/{workflow_id}")).json()
            pending = run["pending_activities"]
            return run if pending and pending[0]["attempt"] >= 2 else None

        run = await eventually(retried, what="the activity is retried")
        [activity] = run["pending_activities"]
        assert activity["activity_type"] == "flaky_charge"
        assert activity["maximum_attempts"] == 0
        assert "card declined for o-7" in activity["last_failure"]["message"]
        [child] = run["pending_children"]
        assert (child["workflow_id"], child["workflow_type"]) == (f"{workflow_id}-child", "Waiter")
        assert run["stuck_reason"] is None
        for closing in (f"{workflow_id}-child", workflow_id):
            await api.a.post(f"/workflows/{closing}/terminate", json={"reason": "test over"})

    forgotten = new_queue()
    stuck_id = (await start(api, "HelloWorkflow", forgotten, "x"))["workflow_id"]
    stuck = (await api.a.get(f"/workflows/{stuck_id}")).json()
    assert f"no worker has polled task queue '{forgotten}'" in stuck["stuck_reason"]
    assert stuck["pending_activities"] == []


async def test_the_openapi_document_describes_workers_and_pending_work(api: Api) -> None:
    spec = (await api.anonymous.get("/openapi.json")).json()
    assert "/workers" in spec["paths"]
    assert [p["name"] for p in spec["paths"]["/queues"]["get"]["parameters"]] == ["task_queue"]
    schemas = spec["components"]["schemas"]
    assert {"workers", "no_worker"} <= set(schemas["QueueView"]["properties"])
    assert "WorkerInfo" in schemas
    described = set(schemas["RunView"]["properties"])
    pending = {"pending_activities", "pending_children", "pending_signals", "pending_updates"}
    assert pending | {"stuck_reason"} <= described
    assert "PendingActivity" in schemas
