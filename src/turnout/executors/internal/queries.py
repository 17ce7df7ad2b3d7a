"""Queries from the client's side on the internal executor: the request, the wait for a
worker's answer, and the answer in the caller's terms.

The request is stored for the run's task queue (``store.request_query``); a worker of
that queue answers it (``worker/queries.py``). The caller waits woken by the answer's
channel (a notification from the answering worker, through LISTEN/NOTIFY on
PostgreSQL), a poll with backoff covering a lost wake-up and SQLite across processes;
it deletes the request once answered or when it stops waiting.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from turnout.contracts.calls import check_query, query_timed_out
from turnout.contracts.errors import DataConversionError, WorkflowQueryFailedError
from turnout.contracts.records import Run
from turnout.executors.internal import codec
from turnout.executors.internal.store.base import utcnow
from turnout.executors.internal.store.notify import answer_channel
from turnout.executors.internal.store.query_records import QueryAnswer, QueryRequestParams

if TYPE_CHECKING:
    from turnout.executors.internal.client import InternalClient

__all__ = ["ask_query"]


async def ask_query(
    client: InternalClient,
    run: Run,
    name: str,
    *,
    args: Sequence[Any],
    result_type: Any,
    rpc_timeout: timedelta | None,
    header: dict[str, Any],
) -> Any:
    """Ask query ``name`` of ``run`` and wait for a worker's answer; its result converted
    to ``result_type`` (else the handler's return type, when the client knows the class),
    WorkflowQueryFailedError, or TimeoutError."""
    timeout = check_query(name, rpc_timeout)
    if result_type is None:
        defn = client.definition(run.workflow_type)
        handler = defn.query_for(name) if defn is not None else None
        result_type = handler.return_type if handler is not None else None
    try:
        encoded = codec.encode_args(list(args))
    except ValueError as exc:
        raise DataConversionError(f"the arguments of query {name}", exc) from None
    codec.check_size(encoded, f"the arguments of query {name}", client.max_payload_bytes)
    query_id = uuid.uuid4().hex
    store, tenant_id = client.store, client.tenant_id
    await store.start_listening()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout.total_seconds()
    # Subscribed before the request exists: an answer however quick still wakes the wait.
    with store.notifier.subscribe(answer_channel(query_id)) as answered:
        try:
            await store.request_query(
                QueryRequestParams(
                    tenant_id=tenant_id,
                    query_id=query_id,
                    run_id=run.run_id,
                    workflow_id=run.workflow_id,
                    workflow_type=run.workflow_type,
                    task_queue=run.task_queue,
                    name=name,
                    args=encoded,
                    expires_at=utcnow() + timeout,
                    header=header,
                )
            )
            answer = await _wait(client, query_id, answered, deadline)
        finally:
            await asyncio.shield(store.forget_query(tenant_id, query_id))
    if answer is None:
        raise query_timed_out(name, run.workflow_id, run.task_queue, timeout)
    if answer.error is not None:
        raise WorkflowQueryFailedError(answer.error)
    return codec.decode(answer.result, result_type)


async def _wait(
    client: InternalClient, query_id: str, answered: asyncio.Event, deadline: float
) -> QueryAnswer | None:
    """The answer once written, or None at ``deadline``."""
    store, loop = client.store, asyncio.get_running_loop()
    delay = 0.02
    while True:
        answered.clear()
        answer = await store.query_answer(client.tenant_id, query_id)
        if answer is not None:
            return answer
        left = deadline - loop.time()
        if left <= 0:
            return None
        try:
            await asyncio.wait_for(answered.wait(), min(delay, left))
        except TimeoutError:
            delay = min(delay * 2, 1.0 if store.supports_listen_notify else 0.25)
