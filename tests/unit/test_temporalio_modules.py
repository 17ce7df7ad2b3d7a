"""temporalio's module layout on turnout: what ``Client.connect`` takes and refuses, how
the target picks the executor, and the small helpers of ``turnout.exceptions``."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from turnout import ConfigurationError, ExecutorUnavailableError, RunState, workflow
from turnout.client import Client, WorkflowExecutionStatus
from turnout.contrib.pydantic import pydantic_data_converter
from turnout.exceptions import (
    ActivityError,
    ApplicationError,
    CancelledError,
    ChildWorkflowError,
    is_cancelled_exception,
)
from turnout.worker import Worker


@pytest.mark.asyncio
async def test_a_database_url_connects_to_the_internal_executor_in_the_namespaces_tenant(
    tmp_path: Path,
) -> None:
    client = await Client.connect(f"sqlite:///{tmp_path}/a.db", namespace="acme")
    try:
        assert (client.executor, client.tenant_id) == ("internal", "acme")
    finally:
        await client.close()


@pytest.mark.asyncio
async def test_no_target_connects_to_the_executor_the_settings_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TURNOUT_EXECUTOR", "internal")
    monkeypatch.setenv("TURNOUT_DATABASE_URL", f"sqlite:///{tmp_path}/b.db")
    client = await Client.connect(data_converter=pydantic_data_converter)
    try:
        assert client.executor == "internal"
        assert client.tenant_id == "default"
    finally:
        await client.close()


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"api_key": "secret"}, "api_key"),
        ({"tls": True}, "tls"),
        ({"interceptors": [object()]}, r"interceptors\[0\] \(object\) is not an interceptor"),
        ({"identity": "me", "lazy": True}, "identity, lazy"),
        ({"data_converter": object()}, "data_converter"),
    ],
)
async def test_an_option_turnout_cannot_honour_is_refused_by_name(
    tmp_path: Path, options: dict[str, object], named: str
) -> None:
    with pytest.raises(ConfigurationError, match=named):
        await Client.connect(f"sqlite:///{tmp_path}/c.db", **options)
    assert not (tmp_path / "c.db").exists()  # refused before anything was made


@pytest.mark.asyncio
@pytest.mark.parametrize("target", ["", "   "])
async def test_an_empty_target_is_refused_with_the_forms_it_may_take(target: str) -> None:
    with pytest.raises(ConfigurationError, match=r"localhost:7233.*sqlite:///"):
        await Client.connect(target)


@pytest.mark.asyncio
async def test_a_temporal_address_without_the_extra_or_a_server_fails_plainly() -> None:
    # Port 9 (discard) has no Temporal frontend: the error names the address, and the
    # call is bounded.
    with pytest.raises(ExecutorUnavailableError, match=re.escape("Temporal server at 127.0.0.1:9")):
        await asyncio.wait_for(Client.connect("127.0.0.1:9"), 30)


@pytest.mark.asyncio
async def test_connection_mistakes_are_one_line_errors_that_say_what_to_check() -> None:
    with pytest.raises(ConfigurationError, match="three slashes"):
        await Client.connect("sqlite://turnout.db")
    with pytest.raises(ExecutorUnavailableError, match=r"postgresql://u:\*\*\*@127.0.0.1:1/db"):
        await asyncio.wait_for(Client.connect("postgresql://u:secret@127.0.0.1:1/db"), 30)


def test_every_open_state_is_running_in_temporals_terms() -> None:
    for state in RunState:
        status = state.execution_status
        if state.is_terminal:
            assert status.name == state.name, state
        else:
            assert status is WorkflowExecutionStatus.RUNNING, state


def test_is_cancelled_exception_looks_through_activity_and_child_errors() -> None:
    def caused(error: BaseException, cause: BaseException) -> BaseException:
        error.__cause__ = cause
        return error

    activity = ActivityError("failed", activity_type="a", activity_id="1")
    child = ChildWorkflowError("failed", workflow_type="W", workflow_id="w", run_id="r")
    assert is_cancelled_exception(asyncio.CancelledError())
    assert is_cancelled_exception(CancelledError("cancelled"))
    assert is_cancelled_exception(caused(activity, CancelledError("cancelled")))
    assert not is_cancelled_exception(ApplicationError("no"))
    assert not is_cancelled_exception(caused(child, ApplicationError("no")))


@workflow.defn(name="Nothing")
class Nothing:
    @workflow.run
    async def run(self) -> None:
        return None


@pytest.mark.asyncio
async def test_a_worker_option_turnout_does_not_know_is_refused_by_name(tmp_path: Path) -> None:
    client = await Client.connect(f"sqlite:///{tmp_path}/w.db")
    try:
        with pytest.raises(ConfigurationError, match="does not take build_id, max_polls"):
            Worker(client, task_queue="q", workflows=[Nothing], build_id="1", max_polls=2)  # type: ignore[call-arg]
        with pytest.raises(ConfigurationError, match=r"interceptors\[0\] \(str\) is not a worker"):
            Worker(client, task_queue="q", workflows=[Nothing], interceptors=["tracing"])
    finally:
        await client.close()
