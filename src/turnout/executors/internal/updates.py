"""Updates from the client's side on the internal executor: sending one, waiting for the
stage the caller asked for, and its outcome.

A request is stored (``store.request_update``) and a workflow task of the run decides it.
The caller waits woken by the run's channel (a notification from the committing worker,
through LISTEN/NOTIFY on PostgreSQL); a poll with backoff covers a lost wake-up.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from turnout.contracts.errors import (
    DataConversionError,
    Failure,
    WorkflowAlreadyCompletedError,
    exception_from_failure,
)
from turnout.contracts.limits import check_name
from turnout.contracts.updates import (
    UpdateNotFoundError,
    UpdateState,
    WorkflowUpdateFailedError,
    WorkflowUpdateStage,
    check_stage,
)
from turnout.executors.internal import codec
from turnout.executors.internal.store import UpdateRecord, UpdateRequestParams
from turnout.executors.internal.store.notify import run_channel

if TYPE_CHECKING:
    from turnout.executors.internal.client import InternalClient

__all__ = ["InternalWorkflowUpdateHandle", "send_update"]

_ACCEPTED_OR_LATER = {UpdateState.ACCEPTED, UpdateState.REJECTED, UpdateState.COMPLETED}
_FINISHED = {UpdateState.REJECTED, UpdateState.COMPLETED}
_RUN_CLOSED_FIRST = "AcceptedUpdateCompletedWorkflow"


class InternalWorkflowUpdateHandle:
    """A handle on one update of one run (``turnout.contracts.WorkflowUpdateHandle``)."""

    def __init__(
        self,
        client: InternalClient,
        workflow_id: str,
        run_id: str | None,
        update_id: str,
        *,
        result_type: Any = None,
    ) -> None:
        self._client = client
        self._workflow_id = workflow_id
        self._run_id = run_id
        self._id = update_id
        self._result_type = result_type

    @property
    def id(self) -> str:
        """The update id."""
        return self._id

    @property
    def workflow_id(self) -> str:
        """The workflow id the update was sent to."""
        return self._workflow_id

    @property
    def workflow_run_id(self) -> str | None:
        """The run the update was sent to (None: the workflow's latest run)."""
        return self._run_id

    async def result(self, *, timeout: timedelta | None = None) -> Any:
        """Wait for the update to complete; its result, or WorkflowUpdateFailedError."""
        record = await self._wait(WorkflowUpdateStage.COMPLETED, timeout)
        if record.failure is not None:
            raise WorkflowUpdateFailedError(
                cause=exception_from_failure(Failure.model_validate(record.failure))
            )
        return codec.decode(record.result, self._result_type)

    async def _wait(self, stage: WorkflowUpdateStage, timeout: timedelta | None) -> UpdateRecord:
        """The request once it reached ``stage`` (a rejection counts as finished)."""
        client, store = self._client, self._client.store
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout.total_seconds() if timeout else None
        run_id = (
            self._run_id
            or (await client.store.find_run(client.tenant_id, self._workflow_id)).run_id
        )
        wanted = _FINISHED if stage is WorkflowUpdateStage.COMPLETED else _ACCEPTED_OR_LATER
        delay = 0.02
        await store.start_listening()
        while True:
            # Subscribed before reading: a change between the read and the wait wakes it.
            with store.notifier.subscribe(run_channel(run_id)) as changed:
                record = await store.update_record(client.tenant_id, run_id, self._id)
                if record is None:
                    raise UpdateNotFoundError(self._workflow_id, self._id)
                if record.state in wanted:
                    return record
                run = await client.read_run(self._workflow_id, run_id)
                if run.state.is_terminal:
                    # The run closed; the request was read before that, and the commit that
                    # closed the run may have decided it too: read it again, now final.
                    final = await store.update_record(client.tenant_id, run_id, self._id)
                    if final is not None and final.state in wanted:
                        return final
                    return _closed_first(
                        final or record, self._workflow_id, run_id, run.state.value
                    )
                wait = delay
                if deadline is not None:
                    wait = min(wait, deadline - loop.time())
                    if wait <= 0:
                        raise TimeoutError(
                            f"update {self._id} of workflow {self._workflow_id} did not reach "
                            f"{stage.name} within {timeout}"
                        )
                try:
                    await asyncio.wait_for(changed.wait(), wait)
                except TimeoutError:
                    delay = min(delay * 2, 1.0 if store.supports_listen_notify else 0.25)


def _closed_first(record: UpdateRecord, workflow_id: str, run_id: str, state: str) -> UpdateRecord:
    """The outcome of an update whose run closed before it finished: one still waiting to be
    decided never reached the workflow (as Temporal says, already completed); an accepted
    one fails, its handler cut short."""
    if record.state is UpdateState.REQUESTED:
        raise WorkflowAlreadyCompletedError(workflow_id, run_id, state)
    failure = Failure(
        kind="application",
        message=f"the workflow closed ({state}) before update {record.update_id} completed",
        type=_RUN_CLOSED_FIRST,
        non_retryable=True,
    )
    return UpdateRecord(
        record.run_id,
        record.update_id,
        record.name,
        UpdateState.COMPLETED,
        failure=failure.model_dump(mode="json"),
    )


async def send_update(
    client: InternalClient,
    workflow_id: str,
    run_id: str,
    name: str,
    *,
    args: Sequence[Any],
    id: str | None,
    wait_for_stage: WorkflowUpdateStage,
    result_type: Any,
    header: dict[str, Any],
) -> InternalWorkflowUpdateHandle:
    """Send update ``name`` to the open run ``run_id`` and wait for ``wait_for_stage``."""
    check_stage(wait_for_stage)
    check_name(name, "an update name", example="add_item")
    update_id = id if id is not None else str(uuid.uuid4())
    check_name(update_id, "an update id", example="add-item-1")
    try:
        encoded = codec.encode_args(list(args))
    except ValueError as exc:
        raise DataConversionError(f"the arguments of update {name}", exc) from None
    codec.check_size(encoded, f"the arguments of update {name}", client.max_payload_bytes)
    record = await client.store.request_update(
        UpdateRequestParams(
            tenant_id=client.tenant_id,
            workflow_id=workflow_id,
            run_id=run_id,
            update_id=update_id,
            name=name,
            args=encoded,
            header=header,
        )
    )
    if record is None:
        raise WorkflowAlreadyCompletedError(workflow_id, run_id)
    handle = InternalWorkflowUpdateHandle(
        client, workflow_id, run_id, update_id, result_type=result_type
    )
    record = await handle._wait(wait_for_stage, None)
    if record.state is UpdateState.REJECTED and record.failure is not None:
        raise WorkflowUpdateFailedError(
            cause=exception_from_failure(Failure.model_validate(record.failure))
        )
    return handle
