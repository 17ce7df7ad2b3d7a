"""Chaos: 200 workflows whose activity fails at random, under two retry policies.

Whether an attempt fails is a pure function of (seed, workflow id, attempt): a
``random.Random`` seeded with those three draws once, and 30 % of the draws
raise a retryable ``ApplicationError``. So the outcome of every run can be
computed before it runs: it completes on its first lucky attempt within its
policy's ``maximum_attempts`` (2 for half of the runs, 5 for the other half), or
its activity is dead-lettered after the last attempt and the run fails. The
test asserts that the executor agrees exactly: run states, results, failures,
``retry_scheduled`` and ``dead_lettered`` events, and attempts per activity.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

import turnout
from turnout import (
    ActivityError,
    ApplicationError,
    EventType,
    RetryPolicy,
    RetryState,
    RunState,
    WorkflowFailureError,
    activity,
    workflow,
)

SEED = 20261125
"""Chosen so that under both policies some runs complete after retries and some dead-letter."""
FAILURE_RATE = 0.3
RUNS = 200
POLICIES = (2, 5)
"""``maximum_attempts`` of the even- and odd-numbered runs."""
CHAOS_TIMEOUT = 180.0
"""Seconds every run may take to close before the test fails (a hang, not a timing check)."""

CALLS: Counter[tuple[str, int]] = Counter()
"""Executions of the activity in this process, by (workflow id, attempt)."""


def fails(workflow_id: str, attempt: int) -> bool:
    """Whether ``attempt`` of the activity of ``workflow_id`` fails: seeded, pure, repeatable."""
    return random.Random(f"{SEED}:{workflow_id}:{attempt}").random() < FAILURE_RATE


@activity.defn
async def chaotic(key: str) -> str:
    info = activity.info()
    CALLS[(info.workflow_id, info.attempt)] += 1
    if fails(info.workflow_id, info.attempt):
        raise ApplicationError(f"chaos struck attempt {info.attempt}", type="Chaos")
    return f"{key} done on attempt {info.attempt}"


@workflow.defn
class ChaosWorkflow:
    @workflow.run
    async def run(self, key: str, maximum_attempts: int) -> str:
        result: str = await workflow.execute_activity(
            chaotic,
            key,
            start_to_close_timeout=timedelta(seconds=120),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(milliseconds=10),
                backoff_coefficient=1.0,
                maximum_attempts=maximum_attempts,
            ),
        )
        return result


@dataclass(frozen=True)
class Expected:
    """What the seeded failures say must happen to one run."""

    maximum_attempts: int
    attempts: int
    completed: bool

    @classmethod
    def of(cls, workflow_id: str, maximum_attempts: int) -> Expected:
        for attempt in range(1, maximum_attempts + 1):
            if not fails(workflow_id, attempt):
                return cls(maximum_attempts, attempt, completed=True)
        return cls(maximum_attempts, maximum_attempts, completed=False)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def chaos_client(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    client = await turnout.connect(
        executor="internal", database_url=request.getfixturevalue(fixture)
    )
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture(autouse=True)
def _fresh_calls() -> None:
    CALLS.clear()


def _failure_chain(exc: BaseException) -> list[BaseException]:
    chain = [exc]
    while chain[-1].__cause__ is not None:
        chain.append(chain[-1].__cause__)
    return chain


async def test_random_failures_end_exactly_as_the_retry_policies_say(chaos_client: Any) -> None:
    queue = "chaos"
    ids = [f"chaos-{i:03d}" for i in range(RUNS)]  # fixed: the seed fixes every outcome
    expected = {wid: Expected.of(wid, POLICIES[i % 2]) for i, wid in enumerate(ids)}
    # The seed gives every kind of outcome, or the test would prove less than it claims.
    kinds = {(e.maximum_attempts, e.completed, e.attempts) for e in expected.values()}
    for m in POLICIES:
        assert {(m, True, 1), (m, True, m), (m, False, m)} <= kinds, sorted(kinds)

    handles = [
        await chaos_client.start_workflow(
            ChaosWorkflow.run, args=[wid, POLICIES[i % 2]], id=wid, task_queue=queue
        )
        for i, wid in enumerate(ids)
    ]
    outcomes: dict[str, Any] = {}
    async with turnout.Worker(
        chaos_client, task_queue=queue, workflows=[ChaosWorkflow], activities=[chaotic]
    ):
        async with asyncio.timeout(CHAOS_TIMEOUT):
            for handle in handles:
                try:
                    outcomes[handle.id] = await handle.result()
                except WorkflowFailureError as exc:
                    outcomes[handle.id] = exc

    totals: Counter[str] = Counter()
    for handle in handles:
        wid = handle.id
        exp = expected[wid]
        run = await handle.describe()
        events = await handle.events()
        types = Counter(e.type for e in events)
        started = [e.attributes["attempt"] for e in events if e.type is EventType.ACTIVITY_STARTED]
        retried = [e for e in events if e.type is EventType.RETRY_SCHEDULED]
        dead = [e for e in events if e.type is EventType.DEAD_LETTERED]

        # Attempts per activity: exactly the expected ones, each started and run once.
        assert started == list(range(1, exp.attempts + 1)), (wid, exp, started)
        assert {a: CALLS[(wid, a)] for a in range(1, exp.maximum_attempts + 2)} == {
            a: 1 if a <= exp.attempts else 0 for a in range(1, exp.maximum_attempts + 2)
        }, wid
        assert [(e.attributes["attempt"], e.attributes["next_attempt"]) for e in retried] == [
            (a, a + 1) for a in range(1, exp.attempts)
        ], wid
        assert all(e.attributes["failure"]["type"] == "Chaos" for e in retried), wid
        if exp.completed:
            assert run.state is RunState.COMPLETED, (wid, exp, run.state)
            assert outcomes[wid] == f"{wid} done on attempt {exp.attempts}"
            assert types[EventType.ACTIVITY_COMPLETED] == 1, wid
            assert dead == [], wid
            assert types[EventType.ACTIVITY_FAILED] == 0, wid
        else:
            assert run.state is RunState.FAILED, (wid, exp, run.state)
            assert isinstance(outcomes[wid], WorkflowFailureError), (wid, outcomes[wid])
            chain = _failure_chain(outcomes[wid])
            activity_error = next(e for e in chain if isinstance(e, ActivityError))
            assert activity_error.retry_state is RetryState.MAXIMUM_ATTEMPTS_REACHED, wid
            cause = activity_error.cause
            assert isinstance(cause, ApplicationError), (wid, cause)
            assert cause.type == "Chaos"
            assert f"attempt {exp.maximum_attempts}" in str(cause)
            assert [e.attributes["attempt"] for e in dead] == [exp.maximum_attempts], wid
            assert types[EventType.ACTIVITY_FAILED] == 1, wid
            assert types[EventType.ACTIVITY_COMPLETED] == 0, wid
        assert types[EventType.ACTIVITY_SCHEDULED] == 1, wid
        totals["completed" if run.state is RunState.COMPLETED else run.state.value] += 1
        totals["dead_lettered"] += len(dead)
        totals["retry_scheduled"] += len(retried)
        totals["attempts"] += len(started)

    want: Counter[str] = Counter()
    for exp in expected.values():
        want["completed" if exp.completed else "failed"] += 1
        want["dead_lettered"] += 0 if exp.completed else 1
        want["retry_scheduled"] += exp.attempts - 1
        want["attempts"] += exp.attempts
    assert totals == want
