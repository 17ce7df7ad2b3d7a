"""``turnout.testing.WorkflowEnvironment``: a test written for temporalio's environment runs
on turnout's once its imports name turnout."""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from turnout import ConfigurationError, EventType, activity, workflow
from turnout.client import Client, WorkflowExecutionStatus
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


@workflow.defn
class Reminder:
    """Sleeps a month, then greets; a signal can cut the wait short."""

    def __init__(self) -> None:
        self.nudged = False

    @workflow.run
    async def run(self, name: str) -> list[str]:
        began = workflow.now()
        try:
            await workflow.wait_condition(lambda: self.nudged, timeout=timedelta(days=30))
            how = "nudged"
        except TimeoutError:
            how = "on time"
        greeting = await workflow.execute_activity(
            compose, name, start_to_close_timeout=timedelta(seconds=10)
        )
        return [greeting, how, str((workflow.now() - began).days)]

    @workflow.signal
    def nudge(self) -> None:
        self.nudged = True


async def test_time_skips_while_a_result_is_awaited() -> None:
    async with await WorkflowEnvironment.start_time_skipping() as env:
        assert env.supports_time_skipping
        task_queue = f"skip-{uuid.uuid4().hex[:8]}"
        before = await env.get_current_time()
        async with Worker(
            env.client, task_queue=task_queue, workflows=[Reminder], activities=[compose]
        ):
            result = await asyncio.wait_for(
                env.client.execute_workflow(
                    Reminder.run, "Ada", id=f"remind-{uuid.uuid4().hex[:8]}", task_queue=task_queue
                ),
                timeout=20,  # a month of workflow time, skipped
            )
        assert result == ["Hello, Ada", "on time", "30"]
        assert (await env.get_current_time()) - before >= timedelta(days=30)


async def test_time_stands_still_unless_a_result_is_awaited_or_the_test_sleeps() -> None:
    async with await WorkflowEnvironment.start_time_skipping() as env:
        task_queue = f"still-{uuid.uuid4().hex[:8]}"
        async with Worker(
            env.client, task_queue=task_queue, workflows=[Reminder], activities=[compose]
        ):
            handle = await env.client.start_workflow(
                Reminder.run, "Grace", id=f"remind-{uuid.uuid4().hex[:8]}", task_queue=task_queue
            )
            with env.auto_time_skipping_disabled():
                # The run's first task ran (it waits on its month) and real time passes:
                # the month does not.
                async with asyncio.timeout(20):
                    while not any(
                        e.type is EventType.WORKFLOW_TASK_COMPLETED for e in await handle.events()
                    ):
                        await asyncio.sleep(0.02)
                await asyncio.sleep(0.3)
                assert (await handle.describe()).status is WorkflowExecutionStatus.RUNNING
            await env.sleep(timedelta(days=2))
            await handle.signal(Reminder.nudge)
            result = await asyncio.wait_for(handle.result(), timeout=20)
        assert result[:2] == ["Hello, Grace", "nudged"]
        assert result[2] == "2"


async def test_each_environment_has_its_own_clock() -> None:
    async with await WorkflowEnvironment.start_time_skipping() as one:
        await one.sleep(timedelta(days=365))
        async with await WorkflowEnvironment.start_time_skipping() as two:
            gap = (await one.get_current_time()) - (await two.get_current_time())
    assert gap >= timedelta(days=364)


async def test_the_machines_clock_is_back_after_shutdown() -> None:
    from turnout.executors.internal.store.sql import utcnow

    env = await WorkflowEnvironment.start_time_skipping()
    await env.sleep(timedelta(days=10))
    assert utcnow() - datetime.now(UTC) >= timedelta(days=9)  # the environment's time
    await env.shutdown()
    assert abs(utcnow() - datetime.now(UTC)) < timedelta(minutes=1)


async def test_an_environments_client_and_its_workers_use_its_interceptors() -> None:
    from turnout.testing.contract.interceptor_context import user_id
    from turnout.testing.contract.workflows_interceptors import Greeter, UserPropagation, greet

    async with await WorkflowEnvironment.start_time_skipping(
        interceptors=[UserPropagation()]
    ) as env:
        task_queue = f"env-{uuid.uuid4().hex[:8]}"
        async with Worker(
            env.client, task_queue=task_queue, workflows=[Greeter], activities=[greet]
        ):
            token = user_id.set("ada")
            handle = await env.client.start_workflow(
                Greeter.run, "Grace", id=f"env-{uuid.uuid4().hex[:8]}", task_queue=task_queue
            )
            await handle.signal(Greeter.finish)
            user_id.reset(token)
            assert await handle.result() == ["ada", "ada", "Hello Grace, from ada"]
