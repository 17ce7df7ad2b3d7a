"""The behaviours of samples-python's ``worker_specific_task_queues`` (activities that
must run on the host that ran the first one, through a task queue of that worker's own)
and ``replay`` (recorded runs replayed with the current code: the same code passes, a
reordered one is reported as non-deterministic)."""

from __future__ import annotations

import asyncio
import hashlib
from contextlib import AsyncExitStack
from datetime import timedelta

from turnout import activity, workflow
from turnout.client import Client
from turnout.replay import replay_run
from turnout.testing.contract.corpus.support import (
    COMPLETED,
    STARTED,
    Driver,
    fresh_id,
    start,
    until,
)
from turnout.testing.contract.corpus.support import steps as timeline
from turnout.testing.harness import ExecutorHarness
from turnout.worker import Replayer, Worker

SECONDS_10 = timedelta(seconds=10)


class Host:
    """A machine with a disk of its own: its files exist for its activities only."""

    def __init__(self, own_queue: str) -> None:
        self.own_queue = own_queue
        self.disk: dict[str, bytes] = {}

    @activity.defn
    async def claim_host(self) -> str:
        """Run from the shared queue: names this host's own queue."""
        return self.own_queue

    @activity.defn
    async def fetch_to_disk(self, url: str) -> str:
        """Writes a file on this host's disk."""
        path = f"/{self.own_queue}/{activity.info().workflow_id}"
        self.disk[path] = f"body of {url}".encode()
        return path

    @activity.defn
    async def digest_on_disk(self, path: str) -> str:
        """Reads the file back: fails on any other host."""
        return hashlib.sha256(self.disk[path]).hexdigest()[:12]

    @activity.defn
    async def wipe_from_disk(self, path: str) -> None:
        """Removes the file."""
        del self.disk[path]


@workflow.defn
class FileJob:
    """Claims a host through the shared queue, then runs every step on that host's queue."""

    @workflow.run
    async def run(self, shared_queue: str, url: str) -> str:
        own = await workflow.execute_activity_method(
            Host.claim_host, task_queue=shared_queue, start_to_close_timeout=SECONDS_10
        )
        path = await workflow.execute_activity_method(
            Host.fetch_to_disk, url, task_queue=own, start_to_close_timeout=SECONDS_10
        )
        try:
            return await workflow.execute_activity_method(
                Host.digest_on_disk, path, task_queue=own, start_to_close_timeout=SECONDS_10
            )
        finally:
            await workflow.execute_activity_method(
                Host.wipe_from_disk, path, task_queue=own, start_to_close_timeout=SECONDS_10
            )


@activity.defn
async def stamp_letter(name: str) -> str:
    """An activity to record."""
    return f"stamped for {name}"


@workflow.defn
class PostOnly:
    """One activity."""

    @workflow.run
    async def run(self, name: str) -> str:
        return await workflow.execute_activity(
            stamp_letter, name, start_to_close_timeout=SECONDS_10
        )


@workflow.defn
class WaitOnly:
    """One timer."""

    @workflow.run
    async def run(self, name: str) -> str:
        await workflow.sleep(timedelta(milliseconds=50))
        return f"waited for {name}"


@workflow.defn
class WaitThenPost:
    """A timer, then an activity."""

    @workflow.run
    async def run(self, name: str) -> str:
        await workflow.sleep(timedelta(milliseconds=50))
        return await workflow.execute_activity(
            stamp_letter, name, start_to_close_timeout=SECONDS_10
        )


@workflow.defn(name="WaitThenPost")
class PostThenWait:
    """The same type, changed: the activity now comes first."""

    @workflow.run
    async def run(self, name: str) -> str:
        stamped = await workflow.execute_activity(
            stamp_letter, name, start_to_close_timeout=SECONDS_10
        )
        await workflow.sleep(timedelta(milliseconds=50))
        return stamped


WORKFLOWS = [FileJob, PostOnly, WaitOnly, WaitThenPost]
ACTIVITIES = [stamp_letter]


async def worker_specific_task_queues(env: ExecutorHarness) -> None:
    shared = fresh_id("hosts")
    hosts = [Host(fresh_id(f"host{n}")) for n in range(2)]
    async with AsyncExitStack() as stack:
        for host in hosts:  # each host is a process of its own, with its own client
            client = await Client.connect(env.target)
            stack.push_async_callback(client.close)
            own = [host.fetch_to_disk, host.digest_on_disk, host.wipe_from_disk]
            for queue, acts in ((shared, [host.claim_host]), (host.own_queue, own)):
                await stack.enter_async_context(Worker(client, task_queue=queue, activities=acts))
        urls = [f"https://example.test/{n}" for n in range(4)]
        handles = [await start(env, FileJob.run, shared, url) for url in urls]
        digests = await asyncio.gather(*(h.result() for h in handles))
    wanted = [hashlib.sha256(f"body of {url}".encode()).hexdigest()[:12] for url in urls]
    assert digests == wanted
    assert [host.disk for host in hosts] == [{}, {}]
    steps = [kind for kind, attrs in await timeline(handles[0]) if kind == "activity_completed"]
    assert steps == ["activity_completed"] * 4


async def replay(env: ExecutorHarness) -> None:
    handles = [await start(env, code.run, "Ida") for code in (PostOnly, WaitOnly, WaitThenPost)]
    for handle in handles:
        await handle.result()
    current = [PostOnly, WaitOnly, WaitThenPost]
    for handle in handles:
        replayed = await replay_run(env.client, handle.id, handle.result_run_id, current)
        assert replayed.deterministic, replayed.summary
    # As the sample does it: the runs' histories through a list query, to a Replayer.
    query = "WorkflowId IN ({})".format(", ".join(f"'{h.id}'" for h in handles))

    async def all_listed() -> bool:
        return (await env.client.count_workflows(query)).count == len(handles)

    await until(all_listed)  # Temporal's visibility shows a run a moment after it closes
    histories = env.client.list_workflows(query).map_histories()
    results = await Replayer(workflows=current).replay_workflows(histories)
    assert dict(results.replay_failures) == {}
    changed = await replay_run(env.client, handles[2].id, handles[2].result_run_id, [PostThenWait])
    assert not changed.deterministic
    assert (await timeline(handles[2]))[0] == STARTED
    assert (await timeline(handles[2]))[-1] == COMPLETED


SCENARIOS: dict[str, Driver] = {
    "worker_specific_task_queues": worker_specific_task_queues,
    "replay": replay,
}
"""The scenarios of this group, by sample."""
