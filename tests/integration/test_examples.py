"""The examples under examples/: every workflow on every executor, each main() as a user runs
it, and the orders example driven through the ``turnout`` command."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from examples import documents, hello, orders

from turnout import ActivityError, ApplicationError, RunState, WorkflowFailureError
from turnout.testing.harness import ExecutorHarness
from turnout.testing.timeline import normalize

ROOT = Path(__file__).resolve().parents[2]
LIMIT = timedelta(seconds=60)

Step = tuple[str, dict[str, Any]]
STARTED: Step = ("workflow_started", {})
COMPLETED: Step = ("workflow_completed", {})


@pytest.fixture
def turnout_workflows() -> Sequence[type]:
    return [hello.Summarize, *orders.WORKFLOWS, *documents.WORKFLOWS]


@pytest.fixture
def turnout_activities() -> Sequence[Callable[..., Any]]:
    return [hello.fetch_document, hello.summarize, *orders.ACTIVITIES, *documents.ACTIVITIES]


def scheduled(activity_type: str) -> Step:
    return ("activity_scheduled", {"activity_type": activity_type})


def completed(activity_type: str, attempt: int = 1) -> Step:
    return ("activity_completed", {"activity_type": activity_type, "attempt": attempt})


def _id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def until(predicate: Callable[[], Any], timeout: float = 30) -> None:
    """Wait, bounded, until ``await predicate()`` is true."""
    async with asyncio.timeout(timeout):
        while not await predicate():
            await asyncio.sleep(0.05)


# --------------------------------------------------------------------------- hello


async def test_hello(executor: ExecutorHarness) -> None:
    handle = await executor.client.start_workflow(
        hello.Summarize.run, "doc-7", id=_id("hello"), task_queue=executor.task_queue
    )
    await handle.signal(hello.Summarize.approve)
    assert await handle.result(timeout=LIMIT) == "CONTENTS OF DOC-7"
    assert (await handle.describe()).state is RunState.COMPLETED
    steps = normalize(await handle.events())
    assert ("signal_received", {"name": "approve"}) in steps
    assert steps[-2:] == [completed("summarize"), COMPLETED]


# --------------------------------------------------------------------------- orders


def order_request(**changes: Any) -> orders.OrderRequest:
    order_id = f"T-{uuid.uuid4().hex[:8]}"
    return orders.sample_order(order_id).model_copy(
        update={"review_timeout_seconds": 60.0, "pickup_delay_seconds": 0.2, **changes}
    )


async def start_order(executor: ExecutorHarness, order: orders.OrderRequest) -> Any:
    return await executor.client.start_workflow(
        orders.PlaceOrder.run, order, id=f"order-{order.order_id}", task_queue=executor.task_queue
    )


async def reviewed(executor: ExecutorHarness, approved: bool) -> tuple[Any, orders.OrderOutcome]:
    """An order that waits for review, then gets ``approved``: its handle and outcome."""
    handle = await start_order(executor, order_request())

    async def awaiting_review() -> bool:
        return bool(await handle.query(orders.PlaceOrder.status) == "awaiting_review")

    await until(awaiting_review)
    review = orders.Review(approved=approved, reviewer="sam@shop.example")
    await handle.signal(orders.PlaceOrder.decide, review)
    outcome = await handle.result(timeout=LIMIT)
    assert isinstance(outcome, orders.OrderOutcome)
    return handle, outcome


def without_review_deadline(steps: list[Step]) -> list[Step]:
    """``steps`` without the review deadline's timer, after checking that it never fired.

    The reviewer acts as soon as the ``status`` query says the order awaits review.
    That answer can come from the workflow task that is about to start the deadline
    timer, so the signal may be recorded before that timer, or even reach the workflow
    together with the payment's completion, in which case no timer is started at all.
    """
    deadline: Step = ("timer_started", {"duration": 60.0})
    started = steps.count(deadline)
    assert started <= 1
    assert steps.count(("timer_canceled", {})) == started
    if started:
        assert steps.index(deadline) > steps.index(completed("charge_payment", attempt=3))
    return [s for s in steps if s not in (deadline, ("timer_canceled", {}))]


async def assert_retried_twice(executor: ExecutorHarness, handle: Any) -> None:
    """The gateway's two outages: retried by the queue (internal) or by Temporal's server."""
    if not executor.is_internal:
        return  # Temporal's history records only the attempt that ended the activity
    retries = [
        e.attributes.get("attempt")
        for e in await handle.events()
        if e.type.value == "retry_scheduled"
        and e.attributes.get("activity_type") == "charge_payment"
    ]
    assert retries == [1, 2]


async def test_order_approved_is_charged_after_retries_and_shipped(
    executor: ExecutorHarness,
) -> None:
    handle, outcome = await reviewed(executor, approved=True)
    order_id = outcome.order_id
    assert outcome.status == "shipped"
    assert outcome.charged_cents == 12900 + 2 * 1450
    assert outcome.payment_attempts == orders.GATEWAY_OUTAGE_ATTEMPTS + 1
    assert outcome.payment_id == f"pay_{order_id}"
    assert outcome.tracking_number is not None
    assert outcome.tracking_number.startswith("TRK-")
    assert outcome.refund_id is None
    assert outcome.refunded_cents == 0
    assert outcome.reviewer == "sam@shop.example"
    assert (await handle.describe()).state is RunState.COMPLETED
    assert await handle.query(orders.PlaceOrder.status) == "shipped"
    assert without_review_deadline(normalize(await handle.events())) == [
        STARTED,
        scheduled("charge_payment"),
        completed("charge_payment", attempt=3),
        ("signal_received", {"name": "decide"}),
        ("timer_started", {"duration": 0.2}),  # waiting for the courier
        ("timer_fired", {}),
        scheduled("ship_order"),
        completed("ship_order"),
        COMPLETED,
    ]
    await assert_retried_twice(executor, handle)


async def test_order_rejected_is_refunded(executor: ExecutorHarness) -> None:
    handle, outcome = await reviewed(executor, approved=False)
    assert outcome.status == "rejected"
    assert outcome.refund_id == f"re_pay_{outcome.order_id}"
    assert outcome.refunded_cents == outcome.charged_cents > 0
    assert outcome.tracking_number is None
    assert (await handle.describe()).state is RunState.COMPLETED
    steps = normalize(await handle.events())
    assert without_review_deadline(steps) == [
        STARTED,
        scheduled("charge_payment"),
        completed("charge_payment", attempt=3),
        ("signal_received", {"name": "decide"}),
        scheduled("refund_payment"),
        completed("refund_payment"),
        COMPLETED,
    ]
    assert scheduled("ship_order") not in steps
    await assert_retried_twice(executor, handle)


async def test_order_without_review_expires_and_is_refunded(executor: ExecutorHarness) -> None:
    handle = await start_order(executor, order_request(review_timeout_seconds=0.5))
    outcome = await handle.result(timeout=LIMIT)
    assert outcome.status == "expired"
    assert outcome.reviewer is None
    assert outcome.refunded_cents == outcome.charged_cents
    assert outcome.refund_id is not None
    assert (await handle.describe()).state is RunState.COMPLETED
    assert normalize(await handle.events())[3:] == [
        ("timer_started", {"duration": 0.5}),
        ("timer_fired", {}),
        scheduled("refund_payment"),
        completed("refund_payment"),
        COMPLETED,
    ]
    # a decision that comes too late changes nothing
    assert await handle.query(orders.PlaceOrder.status) == "expired"


async def test_order_with_declined_card_fails_without_retry(executor: ExecutorHarness) -> None:
    handle = await start_order(executor, order_request(card_token=orders.DECLINED_CARD))
    with pytest.raises(WorkflowFailureError) as failed:
        await handle.result(timeout=LIMIT)
    cause = failed.value.cause
    assert isinstance(cause, ActivityError)
    assert isinstance(cause.cause, ApplicationError)
    assert cause.cause.type == "CardDeclined"
    assert (await handle.describe()).state is RunState.FAILED
    assert normalize(await handle.events()) == [
        STARTED,
        scheduled("charge_payment"),
        ("activity_failed", {"activity_type": "charge_payment", "attempt": 1}),
        ("workflow_failed", {}),
    ]


# --------------------------------------------------------------------------- documents


async def test_document_pipeline(executor: ExecutorHarness) -> None:
    ids = [f"doc-{n}" for n in range(10)]
    request = documents.PipelineRequest(collection="tests", document_ids=ids, batch_size=4)
    workflow_id = _id("pipeline")
    handle = await executor.client.start_workflow(
        documents.DocumentPipeline.run, request, id=workflow_id, task_queue=executor.task_queue
    )
    report = await handle.result(timeout=LIMIT)
    assert isinstance(report, documents.PipelineReport)
    assert (report.batches, report.documents) == (3, 10)
    expected = [documents.analyze_document(i, await documents.load_document(i)) for i in ids]
    assert report.words == sum(stats.words for stats in expected)
    assert len(report.top_keywords) == 5
    assert report.index.documents == 10
    assert report.index.terms == len({k for stats in expected for k in stats.keywords})
    # the first indexing attempt failed halfway; the second resumed from its heartbeat
    assert report.index.attempts == 2
    assert 1 <= report.index.resumed_from <= 5
    assert (await handle.describe()).state is RunState.COMPLETED
    assert await handle.query(documents.DocumentPipeline.progress) == {
        "batches": 3,
        "batches_done": 3,
        "indexing": False,
    }

    steps = normalize(await handle.events())
    children = ("child_workflow_started", {"workflow_type": "AnalyzeBatch"})
    assert steps[:4] == [STARTED, children, children, children]
    assert steps[4:7] == [("child_workflow_completed", {})] * 3
    assert steps[7:] == [scheduled("build_index"), completed("build_index", attempt=2), COMPLETED]

    sizes = {0: 4, 1: 4, 2: 2}
    for number, size in sizes.items():
        child = executor.client.get_workflow_handle(f"{workflow_id}-batch-{number}")
        # By workflow id alone, Temporal's handle returns the result as plain JSON.
        batch = documents.BatchReport.model_validate(await child.result(timeout=LIMIT))
        assert [d.document_id for d in batch.documents] == ids[number * 4 : number * 4 + size]
        assert batch.documents == expected[number * 4 : number * 4 + size]
        assert (await child.describe()).state is RunState.COMPLETED
        batch_steps = normalize(await child.events())
        # fan-out: every load is scheduled before any analysis, one activity per document
        assert batch_steps[1 : 1 + size] == [scheduled("load_document")] * size
        assert batch_steps.count(completed("analyze_document")) == size


# --------------------------------------------------------------------------- main()


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TURNOUT_")}
    env["PYTHONPATH"] = str(ROOT)
    env["TURNOUT_DATABASE_URL"] = f"sqlite:///{tmp_path}/x.db"
    return env


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["examples/hello.py"], ["result   : 'CONTENTS OF DOC-42'", "state    : completed"]),
        (
            ["-m", "examples.orders"],
            ["outcome  : shipped", "after 3 attempts", "tracking : TRK-", "state    : completed"],
        ),
        (
            ["-m", "examples.orders", "--reject"],
            ["review   : rejected", "outcome  : rejected", "refund   : re_pay_A-"],
        ),
        (
            ["-m", "examples.documents"],
            ["batches  : 3 child workflows", "documents: 10,", "attempt 2", "state    : completed"],
        ),
    ],
    ids=["hello", "orders", "orders-rejected", "documents"],
)
def test_main_runs_end_to_end_on_sqlite(
    argv: list[str], expected: list[str], tmp_path: Path
) -> None:
    done = subprocess.run(
        [sys.executable, *argv],
        cwd=ROOT,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.returncode == 0, done.stderr
    for text in expected:
        assert text in done.stdout, done.stdout
    assert f"sqlite:///{tmp_path}/x.db" in done.stdout
    assert "workflow_completed" in done.stdout
    assert (tmp_path / "x.db").exists()


# --------------------------------------------------------------------------- the CLI


def turnout(*args: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "turnout", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, f"turnout {' '.join(args)}: {done.stderr}\n{done.stdout}"
    return done.stdout


@pytest.fixture
def orders_worker(tmp_path: Path) -> Iterator[dict[str, str]]:
    """``turnout worker examples.orders`` in its own process; yields the environment."""
    env = _env(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "turnout", "worker", "examples.orders", "--task-queue", "orders"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert "worker ready" in line, line + (proc.stderr.read() if proc.poll() else "")
        assert "PlaceOrder" in line
        assert "charge_payment" in line
        yield env
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            assert proc.wait(timeout=30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
            assert proc.stderr is not None
            proc.stderr.close()


def test_orders_through_the_cli(orders_worker: dict[str, str]) -> None:
    env = orders_worker
    order = {
        "order_id": "C-1",
        "customer": "ada@example.com",
        "items": [{"sku": "KEYBOARD-TKL", "quantity": 1, "unit_price_cents": 12900}],
        "pickup_delay_seconds": 0.2,
    }
    turnout("start", "PlaceOrder", "--id", "order-C-1", "-q", "orders",
            "--input", json.dumps(order), env=env)  # fmt: skip

    deadline = time.monotonic() + 60
    while True:
        # The worker answers: the command needs no workflow module.
        status = json.loads(turnout("query", "order-C-1", "status", env=env))
        if status == "awaiting_review" or time.monotonic() > deadline:
            break
    assert status == "awaiting_review"

    turnout("signal", "order-C-1", "decide", '{"approved": true, "reviewer": "sam"}', env=env)
    outcome = json.loads(turnout("result", "order-C-1", env=env))
    assert outcome["status"] == "shipped"
    assert outcome["payment_attempts"] == 3
    assert outcome["charged_cents"] == 12900
    assert outcome["reviewer"] == "sam"
    events = [json.loads(line) for line in turnout("events", "order-C-1", "--json", env=env)
              .splitlines()]  # fmt: skip
    types = [e["type"] for e in events]
    assert types.count("retry_scheduled") == 2
    assert types[-2:] == ["workflow_completed", "state_changed"]
