"""The last link of an internal client's interceptor chain: each call, as the
interceptors left it, made on the store."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from turnout.contracts.interceptors import (
    CancelWorkflowInput,
    DescribeWorkflowInput,
    OutboundInterceptor,
    QueryWorkflowInput,
    SignalWorkflowInput,
    StartWorkflowInput,
    StartWorkflowUpdateInput,
    TerminateWorkflowInput,
)
from turnout.contracts.records import Run
from turnout.contracts.updates import WorkflowUpdateHandle
from turnout.executors.internal import codec

if TYPE_CHECKING:
    from turnout.executors.internal.client import InternalClient
    from turnout.executors.internal.handle import InternalWorkflowHandle

__all__ = ["InternalOutbound"]


class InternalOutbound(OutboundInterceptor):
    """Makes each call on the client's store (what every interceptor hands on to)."""

    def __init__(self, client: InternalClient) -> None:
        # The end of the chain: there is no next link.
        self._client = client

    def _handle(
        self, id: str, run_id: str | None, first_execution_run_id: str | None = None
    ) -> InternalWorkflowHandle:
        from turnout.executors.internal.handle import InternalWorkflowHandle

        return InternalWorkflowHandle(
            self._client, id, run_id=run_id, first_execution_run_id=first_execution_run_id
        )

    async def start_workflow(self, input: StartWorkflowInput) -> InternalWorkflowHandle:
        return await self._client.start_from_input(input)

    async def signal_workflow(self, input: SignalWorkflowInput) -> None:
        header = codec.check_header(input.headers, self._client.max_payload_bytes)
        await self._handle(input.id, input.run_id).send_signal(input.signal, input.args, header)

    async def query_workflow(self, input: QueryWorkflowInput) -> Any:
        header = codec.check_header(input.headers, self._client.max_payload_bytes)
        return await self._handle(input.id, input.run_id).ask(
            input.query, input.args, input.ret_type, input.rpc_timeout, header
        )

    async def start_workflow_update(self, input: StartWorkflowUpdateInput) -> WorkflowUpdateHandle:
        header = codec.check_header(input.headers, self._client.max_payload_bytes)
        handle = self._handle(input.id, input.run_id, input.first_execution_run_id)
        return await handle.send_update(
            input.update, input.args, input.update_id, input.wait_for_stage, input.ret_type, header
        )

    async def cancel_workflow(self, input: CancelWorkflowInput) -> None:
        await self._handle(input.id, input.run_id, input.first_execution_run_id).request_cancel()

    async def terminate_workflow(self, input: TerminateWorkflowInput) -> None:
        await self._handle(input.id, input.run_id, input.first_execution_run_id).end(input.reason)

    async def describe_workflow(self, input: DescribeWorkflowInput) -> Run:
        return await self._handle(input.id, input.run_id).read_description()

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(f"the internal executor's client has no call {name!r}")
