"""The HTTP API steering runs: signals, queries, cancel, terminate, approvals, artifacts
and queue figures, on SQLite, PostgreSQL and Temporal (http_api_kit.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from tests import governance_workflows as gw
from tests.integration.http_api_kit import Api, eventually, new_queue, start, wait_state
from tests.integration.http_api_kit import api as api  # the fixture

# -- signals, queries, cancel, terminate ----------------------------------------------------


async def test_signals_and_queries_steer_a_run_to_its_end(api: Api) -> None:
    queue = new_queue()
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
    queue = new_queue()
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
    queue = new_queue()
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
    queue = new_queue()
    reports = (await start(api, "Reports", queue))["workflow_id"]
    async with api.worker(queue):
        await wait_state(api.a, reports, "completed")
    artifacts = (await api.a.get(f"/workflows/{reports}/artifacts")).json()
    assert [(a["name"], a["media_type"], a["size_bytes"]) for a in artifacts] == [
        ("q1", "application/pdf", 2048),
        ("q2", "application/pdf", 2048),
    ]


async def test_queues_show_depth_and_lag_or_say_why_not(api: Api) -> None:
    queue = new_queue()
    await start(api, "HelloWorkflow", queue, "q")
    body = (await api.a.get("/queues")).json()
    if api.executor == "temporal":
        assert body["items"] == []
        assert "Temporal" in body["note"]
        return
    [mine] = [q for q in body["items"] if q["task_queue"] == queue]
    assert mine["depth"] == 1
    assert mine["lag_seconds"] >= 0
