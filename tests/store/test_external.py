"""Conformance: a workflow task's signals and cancel requests to other workflows (external
workflow handles) are delivered in its commit, within its tenant, and answered on the
sender's own timeline."""

from __future__ import annotations

from typing import Any

from tests.store.conftest import claim_task, items_of, start, types
from tests.store.test_workflow_tasks import commit
from turnout.contracts.events import Event, EventType
from turnout.executors.internal import commands as cmd
from turnout.executors.internal.store import StartParams, Store

ELSEWHERE = "elsewhere"
"""The targets' task queue, so that the sender's task is the one claimed."""


async def _target(store: Store, workflow_id: str, tenant_id: str = "default") -> str:
    params = StartParams(
        workflow_id=workflow_id,
        workflow_type="Mailbox",
        task_queue=ELSEWHERE,
        input=[],
        tenant_id=tenant_id,
    )
    return (await store.start_workflow(params)).run_id


def _signal(seq: int, workflow_id: str, run_id: str | None = None) -> cmd.SignalExternal:
    return cmd.SignalExternal(
        seq=seq, workflow_id=workflow_id, run_id=run_id, name="post", args=["hi"]
    )


async def _last(store: Store, run_id: str, tenant_id: str = "default") -> Event:
    return (await store.events(tenant_id, run_id))[-1]


def _answer(event: Event) -> tuple[str, dict[str, Any]]:
    attrs = {k: v for k, v in event.attributes.items() if k != "failure"}
    return event.type.value, attrs


async def test_a_signal_reaches_the_targets_open_run_and_the_sender_hears_of_it(
    store: Store,
) -> None:
    target = await _target(store, "mailbox")
    sender = await start(store)
    await commit(
        store, await claim_task(store), [_signal(1, "mailbox"), _signal(2, "mailbox", target)]
    )
    assert await types(store, sender, 2) == [
        "workflow_task_completed",
        "signal_external_workflow_initiated",
        "signal_external_workflow_initiated",
        "state_changed",
        "external_workflow_signaled",
        "external_workflow_signaled",
    ]
    received = [
        e for e in await store.events("default", target) if e.type is EventType.SIGNAL_RECEIVED
    ]
    assert [e.attributes for e in received] == [{"name": "post", "args": ["hi"]}] * 2
    # The target has a workflow task to see them, the sender one to hear the answers.
    for run_id in (target, sender):
        tasks = [i.state for i in await items_of(store, run_id) if i.kind == "workflow_task"]
        assert tasks[-1] == "queued"


async def test_a_signal_finds_no_target_in_another_tenant_or_a_closed_run(store: Store) -> None:
    await _target(store, "theirs", tenant_id="acme")
    closed = await _target(store, "closed")
    await store.terminate("default", closed, "done")
    sender = await start(store)
    await commit(store, await claim_task(store), [_signal(1, "theirs"), _signal(2, "closed")])
    failed = [
        _answer(e)
        for e in await store.events("default", sender)
        if e.type is EventType.SIGNAL_EXTERNAL_WORKFLOW_FAILED
    ]
    assert failed == [
        (
            "signal_external_workflow_failed",
            {
                "signal_seq": seq,
                "workflow_id": workflow_id,
                "run_id": None,
                "cause": "external_workflow_not_found",
            },
        )
        for seq, workflow_id in ((1, "theirs"), (2, "closed"))
    ]
    assert "signal_received" not in await types(store, closed)


async def test_a_cancel_request_is_recorded_once_and_a_closed_target_is_left_alone(
    store: Store,
) -> None:
    target = await _target(store, "mailbox")
    closed = await _target(store, "closed")
    await store.terminate("default", closed, "done")
    sender = await start(store)
    requests = [
        cmd.RequestCancelExternal(seq=1, workflow_id="mailbox", run_id=None),
        cmd.RequestCancelExternal(seq=2, workflow_id="mailbox", run_id=target),
        cmd.RequestCancelExternal(seq=3, workflow_id="closed", run_id=None),
        cmd.RequestCancelExternal(seq=4, workflow_id="nobody", run_id=None),
    ]
    await commit(store, await claim_task(store), requests)
    answers = [
        (e.type.value, e.attributes["cancel_seq"])
        for e in await store.events("default", sender)
        if "cancel_seq" in e.attributes and not e.type.value.endswith("_initiated")
    ]
    assert answers == [
        ("external_workflow_cancel_requested", 1),
        ("external_workflow_cancel_requested", 2),
        ("external_workflow_cancel_requested", 3),
        ("request_cancel_external_workflow_failed", 4),
    ]
    assert (await types(store, target)).count("workflow_cancel_requested") == 1
    assert "workflow_cancel_requested" not in await types(store, closed)
