"""One workflow signals or cancels another through an external workflow handle
(``workflow.get_external_workflow_handle``), as on Temporal, on every executor: the
target gets the signal or the cancel request, the sender's ``await`` returns once it is
delivered, a target that cannot be found raises ``ApplicationError``
(``ExternalWorkflowExecutionNotFound``) there, and both timelines record it."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest

from turnout import ApplicationError, CancelledError, RunState, WorkflowFailureError
from turnout.testing.contract.workflows_external import (
    EXTERNAL_WORKFLOWS,
    Courier,
    Hesitant,
    Mailbox,
    Misdirected,
    Recall,
)
from turnout.testing.harness import ExecutorHarness
from turnout.testing.timeline import normalize
from turnout.worker import Worker

pytestmark = pytest.mark.asyncio

LIMIT = timedelta(seconds=30)
Step = tuple[str, dict[str, Any]]
STARTED: Step = ("workflow_started", {})
COMPLETED: Step = ("workflow_completed", {})
NOT_FOUND = {"cause": "external_workflow_not_found"}
SIGNAL_NOT_FOUND = (
    "ApplicationError ExternalWorkflowExecutionNotFound: Unable to signal external workflow "
    "because it was not found (retryable: True)"
)
CANCEL_NOT_FOUND = (
    "ApplicationError ExternalWorkflowExecutionNotFound: Unable to cancel external workflow "
    "because not found (retryable: True)"
)


def _id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def _timeline(handle: Any) -> list[Step]:
    return normalize(await handle.events())


async def test_a_workflow_signals_another(executor: ExecutorHarness) -> None:
    client, task_queue = executor.client, _id("external")
    async with Worker(client, task_queue=task_queue, workflows=EXTERNAL_WORKFLOWS):
        mailbox = await client.start_workflow(Mailbox.run, id=_id("mailbox"), task_queue=task_queue)
        courier = await client.start_workflow(
            Courier.run,
            args=[mailbox.id, None, ["hello", "world"]],
            id=_id("courier"),
            task_queue=task_queue,
        )
        assert await courier.result(timeout=LIMIT) == f"posted 2 to {mailbox.id}"
        # The run named by its run id, and the signal that closes the mailbox.
        closer = await client.start_workflow(
            Courier.run,
            args=[mailbox.id, mailbox.result_run_id, ["close"]],
            id=_id("courier"),
            task_queue=task_queue,
        )
        assert await closer.result(timeout=LIMIT) == f"posted 1 to {mailbox.id}"
        assert await mailbox.result(timeout=LIMIT) == ["hello", "world", "close"]

    assert await _timeline(courier) == [
        STARTED,
        ("signal_external_workflow_initiated", {"name": "post"}),
        ("external_workflow_signaled", {}),
        ("signal_external_workflow_initiated", {"name": "post"}),
        ("external_workflow_signaled", {}),
        COMPLETED,
    ]
    assert await _timeline(mailbox) == [
        STARTED,
        ("signal_received", {"name": "post"}),
        ("signal_received", {"name": "post"}),
        ("signal_received", {"name": "post"}),
        COMPLETED,
    ]


async def test_a_signal_cancelled_before_it_is_sent_is_withdrawn(
    executor: ExecutorHarness,
) -> None:
    client, task_queue = executor.client, _id("external")
    async with Worker(client, task_queue=task_queue, workflows=EXTERNAL_WORKFLOWS):
        mailbox = await client.start_workflow(Mailbox.run, id=_id("mailbox"), task_queue=task_queue)
        hesitant = await client.start_workflow(
            Hesitant.run, mailbox.id, id=_id("hesitant"), task_queue=task_queue
        )
        assert (
            await hesitant.result(timeout=LIMIT)
            == "withdrawn: Signal was cancelled before being sent"
        )
        assert await mailbox.result(timeout=LIMIT) == ["close"]
    assert await _timeline(hesitant) == [
        STARTED,
        ("signal_external_workflow_initiated", {"name": "post"}),
        ("external_workflow_signaled", {}),
        COMPLETED,
    ]


async def test_a_workflow_cancels_another(executor: ExecutorHarness) -> None:
    client, task_queue = executor.client, _id("external")
    async with Worker(client, task_queue=task_queue, workflows=EXTERNAL_WORKFLOWS):
        mailbox = await client.start_workflow(Mailbox.run, id=_id("mailbox"), task_queue=task_queue)
        recall = await client.start_workflow(
            Recall.run, mailbox.id, id=_id("recall"), task_queue=task_queue
        )
        assert await recall.result(timeout=LIMIT) == f"cancel requested of {mailbox.id}"
        with pytest.raises(WorkflowFailureError) as info:
            await mailbox.result(timeout=LIMIT)
        assert isinstance(info.value.cause, CancelledError)
        assert (await mailbox.describe()).state is RunState.CANCELED

        # Cancelling a run that has closed already succeeds and changes nothing.
        again = await client.start_workflow(
            Recall.run, mailbox.id, id=_id("recall"), task_queue=task_queue
        )
        assert await again.result(timeout=LIMIT) == f"cancel requested of {mailbox.id}"

    for sender in (recall, again):
        assert await _timeline(sender) == [
            STARTED,
            ("request_cancel_external_workflow_initiated", {}),
            ("external_workflow_cancel_requested", {}),
            COMPLETED,
        ]
    assert await _timeline(mailbox) == [
        STARTED,
        ("workflow_cancel_requested", {}),
        ("workflow_canceled", {}),
    ]


async def test_a_target_that_is_not_found_fails_the_await(executor: ExecutorHarness) -> None:
    client, task_queue = executor.client, _id("external")
    async with Worker(client, task_queue=task_queue, workflows=EXTERNAL_WORKFLOWS):
        nowhere = await client.start_workflow(
            Misdirected.run,
            args=[_id("nobody"), True],
            id=_id("misdirected"),
            task_queue=task_queue,
        )
        assert await nowhere.result(timeout=LIMIT) == [SIGNAL_NOT_FOUND, CANCEL_NOT_FOUND]

        # A closed run takes no signal; a cancel request to it succeeds (as on Temporal).
        mailbox = await client.start_workflow(Mailbox.run, id=_id("mailbox"), task_queue=task_queue)
        await mailbox.signal(Mailbox.post, "close")
        assert await mailbox.result(timeout=LIMIT) == ["close"]
        closed = await client.start_workflow(
            Misdirected.run, args=[mailbox.id, True], id=_id("misdirected"), task_queue=task_queue
        )
        assert await closed.result(timeout=LIMIT) == [SIGNAL_NOT_FOUND, "cancel requested"]

        # Not caught, the failure fails the sender's run.
        uncaught = await client.start_workflow(
            Misdirected.run,
            args=[_id("nobody"), False],
            id=_id("misdirected"),
            task_queue=task_queue,
        )
        with pytest.raises(WorkflowFailureError) as info:
            await uncaught.result(timeout=LIMIT)
    cause = info.value.cause
    assert isinstance(cause, ApplicationError)
    assert (cause.type, cause.message) == (
        "ExternalWorkflowExecutionNotFound",
        "Unable to signal external workflow because it was not found",
    )

    assert await _timeline(nowhere) == [
        STARTED,
        ("signal_external_workflow_initiated", {"name": "post"}),
        ("signal_external_workflow_failed", NOT_FOUND),
        ("request_cancel_external_workflow_initiated", {}),
        ("request_cancel_external_workflow_failed", NOT_FOUND),
        COMPLETED,
    ]
    assert await _timeline(closed) == [
        STARTED,
        ("signal_external_workflow_initiated", {"name": "post"}),
        ("signal_external_workflow_failed", NOT_FOUND),
        ("request_cancel_external_workflow_initiated", {}),
        ("external_workflow_cancel_requested", {}),
        COMPLETED,
    ]
    assert await _timeline(uncaught) == [
        STARTED,
        ("signal_external_workflow_initiated", {"name": "post"}),
        ("signal_external_workflow_failed", NOT_FOUND),
        ("workflow_failed", {}),
    ]
    assert await _timeline(mailbox) == [STARTED, ("signal_received", {"name": "post"}), COMPLETED]


async def test_external_handles_are_made_in_workflow_code_only() -> None:
    from turnout import workflow

    with pytest.raises(workflow.NotInWorkflowError):
        workflow.get_external_workflow_handle("anyone")
    with pytest.raises(workflow.NotInWorkflowError):
        workflow.get_external_workflow_handle_for(Mailbox.run, "anyone")


async def test_senders_replay_their_history_without_a_cache(executor: ExecutorHarness) -> None:
    """Every workflow task replays the run from its history: the signals, cancel requests
    and failures recorded match what the code does again."""
    client, task_queue = executor.client, _id("external")
    async with Worker(
        client, task_queue=task_queue, workflows=EXTERNAL_WORKFLOWS, max_cached_workflows=0
    ):
        mailbox = await client.start_workflow(Mailbox.run, id=_id("mailbox"), task_queue=task_queue)
        courier = await client.start_workflow(
            Courier.run,
            args=[mailbox.id, None, ["one", "two"]],
            id=_id("courier"),
            task_queue=task_queue,
        )
        assert await courier.result(timeout=LIMIT) == f"posted 2 to {mailbox.id}"
        nowhere = await client.start_workflow(
            Misdirected.run,
            args=[_id("nobody"), True],
            id=_id("misdirected"),
            task_queue=task_queue,
        )
        assert await nowhere.result(timeout=LIMIT) == [SIGNAL_NOT_FOUND, CANCEL_NOT_FOUND]
        hesitant = await client.start_workflow(
            Hesitant.run, mailbox.id, id=_id("hesitant"), task_queue=task_queue
        )
        assert await hesitant.result(timeout=LIMIT) == (
            "withdrawn: Signal was cancelled before being sent"
        )
        assert await mailbox.result(timeout=LIMIT) == ["one", "two", "close"]
    for handle in (courier, nowhere, hesitant):
        types = [e.type.value for e in await handle.events()]
        assert "workflow_task_failed" not in types
