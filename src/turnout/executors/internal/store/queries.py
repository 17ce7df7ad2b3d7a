"""Query requests in the store: what a client asks a task queue's workers, the answer
one of them writes, and the sweep of requests nobody waits for any more.

A request is a ``turnout_queries`` row (``requested``) addressed to the task queue of the
run it asks; making one wakes that queue's workers (``query_channel``). A worker that
has the workflow type registered claims it (``claimed``), answers it from its cached
instance or by replaying the run, and writes the answer (``answered``), which wakes the
caller (``answer_channel``). The caller reads the answer and deletes the request; one it
stopped waiting for is deleted by the caller too, or, after ``expires_at``, by a
worker's sweep (:meth:`QueryOperations.prune_queries`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from turnout.executors.internal.schema import QueryState, queries
from turnout.executors.internal.store.core import StoreCore
from turnout.executors.internal.store.maintenance import PRUNE_BATCH
from turnout.executors.internal.store.notify import answer_channel, query_channel
from turnout.executors.internal.store.query_records import (
    QueryAnswer,
    QueryClaimParams,
    QueryRequest,
    QueryRequestParams,
)
from turnout.executors.internal.store.sql import utcnow
from turnout.executors.internal.store.tx import Tx

__all__ = ["QueryOperations"]

_REQUESTED = QueryState.REQUESTED.value


class QueryOperations(StoreCore):
    """Query requests, their claims and answers."""

    async def request_query(self, p: QueryRequestParams) -> None:
        """Store a query request and wake the workers of its task queue."""

        async def tx_fn(conn: AsyncConnection, tx: Tx) -> None:
            await conn.execute(
                queries.insert().values(
                    query_id=p.query_id,
                    tenant_id=p.tenant_id,
                    run_id=p.run_id,
                    workflow_id=p.workflow_id,
                    workflow_type=p.workflow_type,
                    task_queue=p.task_queue,
                    name=p.name,
                    args=p.args,
                    header=p.header or None,
                    state=_REQUESTED,
                    requested_at=utcnow(),
                    expires_at=p.expires_at,
                )
            )
            tx.channels.add(query_channel(p.task_queue))

        await self._run_tx(tx_fn)

    def _waiting(self, p: QueryClaimParams, now: datetime) -> Any:
        stmt = select(queries.c.query_id).where(
            queries.c.state == _REQUESTED,
            queries.c.task_queue == p.task_queue,
            queries.c.expires_at > now,
        )
        if p.tenant_id is not None:
            stmt = stmt.where(queries.c.tenant_id == p.tenant_id)
        if p.workflow_types is not None:
            stmt = stmt.where(queries.c.workflow_type.in_(sorted(p.workflow_types)))
        return stmt

    async def claim_queries(self, p: QueryClaimParams) -> list[QueryRequest]:
        """Claim up to ``p.limit`` waiting requests ``p`` describes (never one twice),
        oldest first. A read looks first, so polling with none waiting takes no write lock."""
        if p.limit <= 0 or p.workflow_types == frozenset():
            return []
        async with self.reader.connect() as conn:
            if (await conn.execute(self._waiting(p, utcnow()).limit(1))).first() is None:
                return []

        async def tx_fn(conn: AsyncConnection, tx: Tx) -> list[QueryRequest]:
            picked = (
                self._waiting(p, utcnow())
                .order_by(queries.c.requested_at, queries.c.query_id)
                .limit(p.limit)
                .with_for_update(skip_locked=True)
                .cte("picked_queries")
                .prefix_with("MATERIALIZED")
            )
            rows = await conn.execute(
                update(queries)
                .where(queries.c.query_id == picked.c.query_id, queries.c.state == _REQUESTED)
                .values(state=QueryState.CLAIMED.value, answered_by=p.owner)
                .returning(
                    queries.c.query_id,
                    queries.c.run_id,
                    queries.c.workflow_id,
                    queries.c.workflow_type,
                    queries.c.name,
                    queries.c.args,
                    queries.c.header,
                )
            )
            return [
                QueryRequest(
                    query_id=row.query_id,
                    run_id=row.run_id,
                    workflow_id=row.workflow_id,
                    workflow_type=row.workflow_type,
                    name=row.name,
                    args=list(row.args or []),
                    header=dict(row.header or {}),
                )
                for row in rows
            ]

        return await self._run_tx(tx_fn)

    async def answer_query(self, query_id: str, answer: QueryAnswer) -> bool:
        """Write the answer of a claimed request and wake its caller; False when the
        request is gone (its caller stopped waiting) or was answered already."""

        async def tx_fn(conn: AsyncConnection, tx: Tx) -> bool:
            answered = (
                await conn.execute(
                    update(queries)
                    .where(
                        queries.c.query_id == query_id,
                        queries.c.state == QueryState.CLAIMED.value,
                    )
                    .values(
                        state=QueryState.ANSWERED.value, result=answer.result, error=answer.error
                    )
                    .returning(queries.c.query_id)
                )
            ).first()
            if answered is not None:
                tx.channels.add(answer_channel(query_id))
            return answered is not None

        return await self._run_tx(tx_fn)

    async def query_answer(self, tenant_id: str, query_id: str) -> QueryAnswer | None:
        """The answer of the tenant's request ``query_id``; None while it has none (or
        the request is gone). A read: it takes no write lock."""
        async with self.reader.connect() as conn:
            row = (
                await conn.execute(
                    select(queries.c.result, queries.c.error).where(
                        queries.c.query_id == query_id,
                        queries.c.tenant_id == tenant_id,
                        queries.c.state == QueryState.ANSWERED.value,
                    )
                )
            ).first()
        return None if row is None else QueryAnswer(result=row.result, error=row.error)

    async def forget_query(self, tenant_id: str, query_id: str) -> None:
        """Delete the tenant's request ``query_id`` in whatever state (its caller read the
        answer, or stopped waiting); nothing when it is gone."""

        async def tx_fn(conn: AsyncConnection, tx: Tx) -> None:
            await conn.execute(
                delete(queries).where(
                    queries.c.query_id == query_id, queries.c.tenant_id == tenant_id
                )
            )

        await self._run_tx(tx_fn)

    async def prune_queries(self, before: datetime, limit: int = PRUNE_BATCH) -> int:
        """Delete up to ``limit`` requests (of every tenant) that expired before
        ``before``: their callers stopped waiting. How many."""
        expired = (
            select(queries.c.query_id)
            .where(queries.c.expires_at < before)
            .order_by(queries.c.expires_at)
            .limit(limit)
        )
        async with self.reader.connect() as conn:
            if (await conn.execute(expired.limit(1))).first() is None:
                return 0

        async def tx_fn(conn: AsyncConnection, tx: Tx) -> int:
            ids = list((await conn.execute(expired)).scalars())
            if ids:
                await conn.execute(
                    delete(queries).where(
                        queries.c.query_id.in_(ids), queries.c.expires_at < before
                    )
                )
            return len(ids)

        return await self._run_tx(tx_fn)
