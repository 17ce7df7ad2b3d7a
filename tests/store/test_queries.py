"""Conformance: query requests. A request waits for a worker of its task queue that has its
workflow type registered; a claim takes it once; the answer wakes its caller; the caller
deletes it, and the sweep deletes those whose callers went away."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta

from tests.store.conftest import QUEUE, start
from turnout.executors.internal.store import Store
from turnout.executors.internal.store.base import utcnow
from turnout.executors.internal.store.notify import answer_channel, query_channel
from turnout.executors.internal.store.query_records import (
    QueryAnswer,
    QueryClaimParams,
    QueryRequest,
    QueryRequestParams,
)


def _request(
    run_id: str, query_id: str, *, expires_in: float = 30, tenant_id: str = "default"
) -> QueryRequestParams:
    return QueryRequestParams(
        tenant_id=tenant_id,
        query_id=query_id,
        run_id=run_id,
        workflow_id="wf",
        workflow_type="Flow",
        task_queue=QUEUE,
        name="status",
        args=[1],
        expires_at=utcnow() + timedelta(seconds=expires_in),
    )


def _claim(
    owner: str = "w1", types: frozenset[str] | None = frozenset({"Flow"}), limit: int = 16
) -> QueryClaimParams:
    return QueryClaimParams(QUEUE, owner, types, tenant_id="default", limit=limit)


async def test_a_request_wakes_its_queue_and_is_claimed_once(store: Store) -> None:
    run_id = await start(store)
    with store.notifier.subscribe(query_channel(QUEUE)) as woken:
        await store.request_query(_request(run_id, "q1"))
        assert woken.is_set()
    await store.request_query(dataclasses.replace(_request(run_id, "q2"), header={"who": "cy"}))
    claimed = await store.claim_queries(_claim())
    # A request's header comes back with it, for the workflow's interceptors.
    assert claimed == [
        QueryRequest("q1", run_id, "wf", "Flow", "status", [1]),
        QueryRequest("q2", run_id, "wf", "Flow", "status", [1], header={"who": "cy"}),
    ]
    assert await store.claim_queries(_claim("w2")) == []


async def test_a_claim_takes_only_registered_types_and_at_most_its_limit(store: Store) -> None:
    run_id = await start(store)
    for query_id in ("q1", "q2", "q3"):
        await store.request_query(_request(run_id, query_id))
    assert await store.claim_queries(_claim(types=frozenset({"Other"}))) == []
    assert await store.claim_queries(_claim(types=frozenset())) == []
    first = await store.claim_queries(_claim(limit=2))
    assert [q.query_id for q in first] == ["q1", "q2"]
    # A worker with a dynamic workflow takes any type.
    rest = await store.claim_queries(_claim(types=None))
    assert [q.query_id for q in rest] == ["q3"]


async def test_an_expired_request_is_not_claimed_and_is_swept(store: Store) -> None:
    run_id = await start(store)
    await store.request_query(_request(run_id, "old", expires_in=-1))
    await store.request_query(_request(run_id, "new"))
    assert [q.query_id for q in await store.claim_queries(_claim())] == ["new"]
    assert await store.prune_queries(utcnow() - timedelta(minutes=5)) == 0
    assert await store.prune_queries(utcnow()) == 1
    assert await store.prune_queries(utcnow()) == 0
    # The live request is still there to answer.
    assert await store.answer_query("new", QueryAnswer(result=1))


async def test_an_answer_wakes_the_caller_once_and_is_read(store: Store) -> None:
    run_id = await start(store)
    await store.request_query(_request(run_id, "q1"))
    assert await store.query_answer("default", "q1") is None
    (claimed,) = await store.claim_queries(_claim())
    with store.notifier.subscribe(answer_channel("q1")) as woken:
        assert await store.answer_query(claimed.query_id, QueryAnswer(result={"n": 2}))
        await asyncio.wait_for(woken.wait(), 5)
    assert not await store.answer_query("q1", QueryAnswer(error="again"))
    assert await store.query_answer("default", "q1") == QueryAnswer(result={"n": 2})
    assert await store.query_answer("other-tenant", "q1") is None


async def test_an_error_is_an_answer_and_a_forgotten_request_takes_none(store: Store) -> None:
    run_id = await start(store)
    await store.request_query(_request(run_id, "q1"))
    await store.request_query(_request(run_id, "q2"))
    claimed = await store.claim_queries(_claim())
    assert await store.answer_query("q1", QueryAnswer(error="boom"))
    assert await store.query_answer("default", "q1") == QueryAnswer(error="boom")
    await store.forget_query("default", "q1")
    await store.forget_query("default", "q2")  # its caller stopped waiting
    assert await store.query_answer("default", "q1") is None
    assert not await store.answer_query(claimed[1].query_id, QueryAnswer(result=1))
    await store.forget_query("default", "q2")  # gone already: nothing happens
