"""Conformance: update requests. A request is stored once per (run, update id), marks the
run's queued workflow task, and a workflow task's commit accepts, rejects or completes it;
a closed run takes none."""

from __future__ import annotations

from typing import Any

from tests.store.conftest import claim_task, start, types
from tests.store.test_workflow_tasks import commit
from turnout.contracts.errors import Failure
from turnout.contracts.updates import UpdateState
from turnout.executors.internal import commands as cmd
from turnout.executors.internal.store import Store, UpdateRequestParams
from turnout.executors.internal.store.updates import UPDATES_PENDING


def _request(
    run_id: str, update_id: str, name: str = "add", header: dict[str, Any] | None = None
) -> UpdateRequestParams:
    return UpdateRequestParams(
        tenant_id="default",
        workflow_id="wf",
        run_id=run_id,
        update_id=update_id,
        name=name,
        args=[1],
        header=header or {},
    )


async def test_a_request_is_stored_once_and_marks_the_queued_task(store: Store) -> None:
    run_id = await start(store)
    first = await store.request_update(_request(run_id, "u1", header={"who": "ada"}))
    again = await store.request_update(_request(run_id, "u1", name="other"))
    assert first is not None
    assert again is not None
    assert (first.state, again.state, again.name) == (
        UpdateState.REQUESTED,
        UpdateState.REQUESTED,
        "add",  # the first request stands
    )
    # The request's header comes back with it, for the workflow's interceptors.
    assert await store.requested_updates([run_id, "no-such-run"]) == {
        run_id: [("u1", "add", [1], {"who": "ada"})]
    }
    task = await claim_task(store)
    assert task.payload.get(UPDATES_PENDING) is True


async def test_a_commit_accepts_rejects_and_completes(store: Store) -> None:
    run_id = await start(store)
    for update_id in ("ok", "bad"):
        await store.request_update(_request(run_id, update_id))
    refused = Failure(kind="application", message="no", type="ValueError")
    await commit(
        store,
        await claim_task(store),
        [
            cmd.AcceptUpdate("ok", "add", [1]),
            cmd.RejectUpdate("bad", refused),
            cmd.CompleteUpdate("ok", result=2),
        ],
    )
    ok = await store.update_record("default", run_id, "ok")
    bad = await store.update_record("default", run_id, "bad")
    assert ok is not None
    assert bad is not None
    assert (ok.state, ok.result) == (UpdateState.COMPLETED, 2)
    assert (bad.state, (bad.failure or {}).get("type")) == (UpdateState.REJECTED, "ValueError")
    assert await store.requested_updates([run_id]) == {}
    # Accepted and completed are on the timeline; the rejection is on the request only.
    assert [t for t in await types(store, run_id) if "update" in t] == [
        "workflow_update_accepted",
        "workflow_update_completed",
    ]
    assert await store.update_record("other-tenant", run_id, "ok") is None


async def test_a_closed_run_takes_no_request_but_keeps_its_decided_ones(store: Store) -> None:
    run_id = await start(store)
    await store.request_update(_request(run_id, "u1"))
    await commit(
        store,
        await claim_task(store),
        [cmd.AcceptUpdate("u1", "add", [1]), cmd.CompleteUpdate("u1", result=1),
         cmd.CompleteWorkflow(None)],
    )  # fmt: skip
    assert await store.request_update(_request(run_id, "u2")) is None
    decided = await store.request_update(_request(run_id, "u1"))
    assert decided is not None
    assert decided.state is UpdateState.COMPLETED
