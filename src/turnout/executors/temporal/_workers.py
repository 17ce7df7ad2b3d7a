"""The workers of a task queue on Temporal: the pollers its server saw, for workflow tasks
and for activity tasks, as turnout's :class:`WorkerInfo` records."""

from __future__ import annotations

from datetime import UTC

import temporalio.client
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

from turnout.contracts.workers import WorkerInfo

__all__ = ["pollers"]


_KINDS = (TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY)


async def pollers(
    client: temporalio.client.Client, task_queue: str, *, workflows_only: bool = False
) -> list[WorkerInfo]:
    """The workers that polled ``task_queue`` lately (for workflow tasks only, with
    ``workflows_only``), by identity (temporalio's identity is ``pid@host``: both are
    read from it)."""
    seen: dict[str, WorkerInfo] = {}
    for kind in _KINDS[:1] if workflows_only else _KINDS:
        answer = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=client.namespace,
                task_queue=TaskQueue(name=task_queue),
                task_queue_type=kind,
            )
        )
        for poller in answer.pollers:
            last = poller.last_access_time.ToDatetime().replace(tzinfo=UTC)
            known = seen.get(poller.identity)
            if known is not None and known.last_seen_at >= last:
                continue
            pid, _, host = poller.identity.partition("@")
            seen[poller.identity] = WorkerInfo(
                identity=poller.identity,
                task_queue=task_queue,
                last_seen_at=last,
                host=host or None,
                pid=int(pid) if pid.isdigit() else None,
            )
    return [seen[identity] for identity in sorted(seen)]
