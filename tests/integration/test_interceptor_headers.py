"""Bad headers on the internal executor: a value that is not JSON, or a name that is not
a usable string, is refused at the call with one line naming the header, and nothing is
stored (the run is not started, the signal not delivered)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from turnout import DataConversionError, client
from turnout.client import Client
from turnout.testing.contract.workflows_interceptors import Greeter

pytestmark = pytest.mark.asyncio


class _Headers(client.Interceptor):
    def __init__(self, headers: dict[Any, Any]) -> None:
        self.headers = headers

    def intercept_client(self, next: Any) -> Any:
        headers = self.headers

        class Outbound(client.OutboundInterceptor):
            async def start_workflow(self, input: Any) -> Any:
                input.headers = {**input.headers, **headers}
                return await super().start_workflow(input)

            async def signal_workflow(self, input: Any) -> None:
                input.headers = {**input.headers, **headers}
                await super().signal_workflow(input)

        return Outbound(next)


@pytest.mark.parametrize(
    ("headers", "error", "message"),
    [
        ({"who": object()}, DataConversionError, "header 'who'"),
        ({7: "seven"}, TypeError, "header name 7 is not a string"),
        ({"": "empty"}, ValueError, "a header name"),
    ],
)
async def test_a_start_with_a_bad_header_is_refused_and_stores_nothing(
    tmp_path: Path, headers: dict[Any, Any], error: type[Exception], message: str
) -> None:
    url = f"sqlite:///{tmp_path}/h.db"
    bad = await Client.connect(url, interceptors=[_Headers(headers)])
    plain = await Client.connect(url)
    try:
        workflow_id = f"h-{uuid.uuid4().hex[:8]}"
        with pytest.raises(error) as refused:
            await bad.start_workflow(Greeter.run, "Ada", id=workflow_id, task_queue="h")
        assert message in str(refused.value)
        assert "\n" not in str(refused.value)
        assert await plain.list_workflows() == []
        # The same start without the bad header goes through; a bad signal to it is
        # refused and leaves no event.
        handle = await plain.start_workflow(Greeter.run, "Ada", id=workflow_id, task_queue="h")
        before = await handle.events()
        with pytest.raises(error):
            await bad.get_workflow_handle(workflow_id).signal(Greeter.finish)
        assert await handle.events() == before
    finally:
        await bad.close()
        await plain.close()
