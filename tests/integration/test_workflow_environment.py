"""``turnout.testing.WorkflowEnvironment``: a test written for temporalio's environment runs
on turnout's once its imports name turnout."""

from __future__ import annotations

import tempfile
import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from turnout import ConfigurationError, activity, workflow
from turnout.client import Client
from turnout.testing import WorkflowEnvironment
from turnout.worker import Worker

pytestmark = pytest.mark.asyncio


@activity.defn
async def compose(name: str) -> str:
    return f"Hello, {name}"


@workflow.defn
class Greeter:
    @workflow.run
    async def run(self, name: str) -> str:
        return str(
            await workflow.execute_activity(
                compose, name, start_to_close_timeout=timedelta(seconds=10)
            )
        )


async def test_a_local_environment_runs_workflows_and_cleans_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where its database goes
    async with await WorkflowEnvironment.start_local() as env:
        task_queue = f"env-{uuid.uuid4().hex[:8]}"
        async with Worker(
            env.client, task_queue=task_queue, workflows=[Greeter], activities=[compose]
        ):
            result = await env.client.execute_workflow(
                Greeter.run, "Ada", id=f"greet-{uuid.uuid4().hex[:8]}", task_queue=task_queue
            )
        assert result == "Hello, Ada"
        assert env.supports_time_skipping is False
        before = await env.get_current_time()
        await env.sleep(0.01)
        assert await env.get_current_time() > before
        assert [p.name for p in tmp_path.glob("turnout-env-*/*.db")] == ["turnout.db"]
    assert list(tmp_path.iterdir()) == []


async def test_a_named_database_is_kept_and_a_client_can_be_wrapped(tmp_path: Path) -> None:
    database = tmp_path / "kept.db"
    env = await WorkflowEnvironment.start_local(
        namespace="team-a", dev_server_database_filename=str(database), ui=False
    )
    handle = await env.client.start_workflow(
        Greeter.run, "Grace", id="kept-1", task_queue="nobody-polls"
    )
    await env.shutdown()
    assert database.exists()
    wrapped = WorkflowEnvironment.from_client(
        await Client.connect(f"sqlite:///{database}", namespace="team-a")
    )
    again = wrapped.client.get_workflow_handle(handle.id)
    assert (await again.describe()).workflow_type == "Greeter"
    await wrapped.shutdown()  # not its client: still usable
    assert (await again.describe()).id == "kept-1"
    await wrapped.client.close()


@pytest.mark.parametrize(
    ("option", "value", "named"),
    [("ui", True, "ui="), ("port", 7233, "port="), ("dev_server_extra", [], "'dev_server_extra'")],
)
async def test_options_for_temporals_dev_server_are_refused(
    option: str, value: object, named: str
) -> None:
    with pytest.raises(ConfigurationError) as refused:
        await WorkflowEnvironment.start_local(**{option: value})
    assert named in str(refused.value)
