"""One workflow module, two executors: the switch is configuration alone (environment variables)."""

from __future__ import annotations

from typing import Any

import pytest

import turnout
from tests import workflows_for_tests as wf


async def _run_hello(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> tuple[str, Any]:
    for key in ("TURNOUT_EXECUTOR", "TURNOUT_DATABASE_URL", "TURNOUT_TEMPORAL_ADDRESS"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    client = await turnout.connect()  # nothing but settings decides the executor
    try:
        async with turnout.Worker(
            client,
            task_queue="switch",
            workflows=[wf.HelloWorkflow],
            activities=[wf.greet, wf.shout],
        ):
            result = await client.execute_workflow(
                wf.HelloWorkflow.run, "switch", id="switch-1", task_queue="switch"
            )
        return result, client.executor
    finally:
        await client.close()


async def test_same_module_runs_on_either_executor_by_settings(
    monkeypatch: pytest.MonkeyPatch, postgres_url: str, temporal_address: str
) -> None:
    internal = await _run_hello(
        monkeypatch, {"TURNOUT_EXECUTOR": "internal", "TURNOUT_DATABASE_URL": postgres_url}
    )
    temporal = await _run_hello(
        monkeypatch, {"TURNOUT_EXECUTOR": "temporal", "TURNOUT_TEMPORAL_ADDRESS": temporal_address}
    )
    assert internal == ("HELLO, SWITCH!", "internal")
    assert temporal == ("HELLO, SWITCH!", "temporal")


async def test_temporal_worker_refuses_internal_only_options(temporal_address: str) -> None:
    client = await turnout.connect(executor="temporal", temporal_address=temporal_address)
    with pytest.raises(turnout.ConfigurationError, match="reaper_interval"):
        turnout.Worker(client, task_queue="opts", workflows=[wf.HelloWorkflow], reaper_interval=1)
