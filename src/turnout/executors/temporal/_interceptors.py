"""turnout's interceptors on Temporal: they join temporalio's own chain.

A ``turnout.client.Interceptor`` or ``turnout.worker.Interceptor`` has temporalio's
method names, so temporalio calls it as one of its own and it receives temporalio's input
records (whose fields turnout's records mirror). What turnout adds is the header values:
a header made with ``turnout.converter.default().payload_converter`` is a JSON value,
which becomes a Temporal payload on its way to the server.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import temporalio.api.common.v1
import temporalio.client
import temporalio.converter
import temporalio.worker
from temporalio.contrib.pydantic import pydantic_data_converter

from turnout.contracts.worker_interceptors import worker_interceptors

__all__ = ["client_interceptors", "worker_chain"]

_CONVERTER = pydantic_data_converter.payload_converter


def as_payloads(headers: Mapping[str, Any]) -> Mapping[str, Any]:
    """``headers`` with each value a Temporal payload (a JSON value converted)."""
    if all(isinstance(v, temporalio.api.common.v1.Payload) for v in headers.values()):
        return headers
    return {
        name: value
        if isinstance(value, temporalio.api.common.v1.Payload)
        else _CONVERTER.to_payloads([value])[0]
        for name, value in headers.items()
    }


class _ClientHeaders(temporalio.client.OutboundInterceptor):
    async def start_workflow(self, input: Any) -> Any:
        input.headers = as_payloads(input.headers)
        return await super().start_workflow(input)

    async def signal_workflow(self, input: Any) -> None:
        input.headers = as_payloads(input.headers)
        await super().signal_workflow(input)

    async def query_workflow(self, input: Any) -> Any:
        input.headers = as_payloads(input.headers)
        return await super().query_workflow(input)

    async def start_workflow_update(self, input: Any) -> Any:
        input.headers = as_payloads(input.headers)
        return await super().start_workflow_update(input)

    async def start_update_with_start_workflow(self, input: Any) -> Any:
        for part in (input.start_workflow_input, input.update_workflow_input):
            part.headers = as_payloads(part.headers)
        return await super().start_update_with_start_workflow(input)


class _PayloadHeaders(temporalio.client.Interceptor):
    def intercept_client(
        self, next: temporalio.client.OutboundInterceptor
    ) -> temporalio.client.OutboundInterceptor:
        return _ClientHeaders(next)


def client_interceptors(interceptors: Sequence[object]) -> list[Any]:
    """What temporalio's client is given: the user's client interceptors, outermost
    first, then the link that makes their headers payloads."""
    return [*[i for i in interceptors if hasattr(i, "intercept_client")], _PayloadHeaders()]


class _WorkflowHeaders(temporalio.worker.WorkflowOutboundInterceptor):
    def start_activity(self, input: Any) -> Any:
        input.headers = as_payloads(input.headers)
        return super().start_activity(input)

    def start_local_activity(self, input: Any) -> Any:
        input.headers = as_payloads(input.headers)
        return super().start_local_activity(input)

    async def start_child_workflow(self, input: Any) -> Any:
        input.headers = as_payloads(input.headers)
        return await super().start_child_workflow(input)

    async def signal_child_workflow(self, input: Any) -> None:
        input.headers = as_payloads(input.headers)
        await super().signal_child_workflow(input)

    async def signal_external_workflow(self, input: Any) -> None:
        input.headers = as_payloads(input.headers)
        await super().signal_external_workflow(input)

    def continue_as_new(self, input: Any) -> Any:
        input.headers = as_payloads(input.headers)
        return super().continue_as_new(input)


class _WorkflowHeadersInbound(temporalio.worker.WorkflowInboundInterceptor):
    def init(self, outbound: temporalio.worker.WorkflowOutboundInterceptor) -> None:
        super().init(_WorkflowHeaders(outbound))


class _WorkerPayloadHeaders(temporalio.worker.Interceptor):
    def workflow_interceptor_class(
        self, input: temporalio.worker.WorkflowInterceptorClassInput
    ) -> type[temporalio.worker.WorkflowInboundInterceptor]:
        return _WorkflowHeadersInbound


def worker_chain(
    own: Sequence[Any], client: Sequence[object] = (), worker: Sequence[object] = ()
) -> list[Any]:
    """What temporalio's worker is given: the link that makes workflow headers payloads
    (outermost, so it is the last a workflow's call passes), turnout's ``own``
    interceptors, then the client's worker interceptors and the worker's (inside
    turnout's: their code sees turnout's runtime). A temporalio interceptor given to the
    client is left out: temporalio's worker takes it from the client itself."""
    from_client = [i for i in client if not isinstance(i, temporalio.worker.Interceptor)]
    return [_WorkerPayloadHeaders(), *own, *worker_interceptors([*from_client, *worker])]
