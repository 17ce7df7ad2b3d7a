"""The behaviour of samples-python's ``patching`` (and ``hello/hello_patch``): a workflow
changed in four deployments - initial, patched, patch deprecated, patch removed - while
runs started by each earlier deployment finish on the next one."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from turnout import activity, workflow
from turnout.testing.contract.corpus.support import Driver, fresh_id, recorded, steps
from turnout.testing.harness import ExecutorHarness
from turnout.worker import Worker

PATCH = "brass-taps"
SECONDS_10 = timedelta(seconds=10)


@activity.defn
async def fit_iron_taps(room: str) -> str:
    """What the first deployment fits."""
    return f"{room}: iron taps"


@activity.defn
async def fit_brass_taps(room: str) -> str:
    """What later deployments fit."""
    return f"{room}: brass taps"


class _Renovation:
    """What every deployment shares: it waits for an inspection before returning."""

    def __init__(self) -> None:
        self.work: list[str] = []
        self.inspected = False

    async def finish(self) -> list[str]:
        await workflow.wait_condition(lambda: self.inspected)
        return [*self.work, "inspected"]

    @workflow.signal
    def inspect(self) -> None:
        """Lets the run return."""
        self.inspected = True


@workflow.defn(name="Renovation")
class RenovationInitial(_Renovation):
    """Deployment 1: iron taps."""

    @workflow.run
    async def run(self, room: str) -> list[str]:
        self.work.append(
            await workflow.execute_activity(fit_iron_taps, room, start_to_close_timeout=SECONDS_10)
        )
        return await self.finish()


@workflow.defn(name="Renovation")
class RenovationPatched(_Renovation):
    """Deployment 2: brass taps for new runs, iron taps for runs that began without them."""

    @workflow.run
    async def run(self, room: str) -> list[str]:
        fitting = fit_brass_taps if workflow.patched(PATCH) else fit_iron_taps
        self.work.append(
            await workflow.execute_activity(fitting, room, start_to_close_timeout=SECONDS_10)
        )
        return await self.finish()


@workflow.defn(name="Renovation")
class RenovationDeprecated(_Renovation):
    """Deployment 3: every run still open has the patch; the old branch goes."""

    @workflow.run
    async def run(self, room: str) -> list[str]:
        workflow.deprecate_patch(PATCH)
        self.work.append(
            await workflow.execute_activity(fit_brass_taps, room, start_to_close_timeout=SECONDS_10)
        )
        return await self.finish()


@workflow.defn(name="Renovation")
class RenovationFinal(_Renovation):
    """Deployment 4: the patch call is gone too."""

    @workflow.run
    async def run(self, room: str) -> list[str]:
        self.work.append(
            await workflow.execute_activity(fit_brass_taps, room, start_to_close_timeout=SECONDS_10)
        )
        return await self.finish()


WORKFLOWS: list[type] = []
"""None on the shared worker: each deployment runs on a worker of its own."""
ACTIVITIES: list[Any] = []


async def patching(env: ExecutorHarness) -> None:
    task_queue = fresh_id("patching")
    taps = [fit_iron_taps, fit_brass_taps]
    opened: list[Any] = []

    def deployment(code: type) -> Worker:
        return Worker(env.client, task_queue=task_queue, workflows=[code], activities=taps)

    async def begin(room: str) -> Any:
        handle = await env.client.start_workflow(
            "Renovation", room, id=fresh_id(room), task_queue=task_queue
        )
        await recorded(handle, "activity_completed")
        opened.append(handle)
        return handle

    async def finish_oldest() -> Sequence[str]:
        handle = opened.pop(0)
        await handle.signal("inspect")
        result: list[str] = await handle.result()
        return result

    async with deployment(RenovationInitial):
        kitchen = await begin("kitchen")
    async with deployment(RenovationPatched):
        bathroom = await begin("bathroom")
        assert await finish_oldest() == ["kitchen: iron taps", "inspected"]
    async with deployment(RenovationDeprecated):
        await begin("cellar")
        assert await finish_oldest() == ["bathroom: brass taps", "inspected"]
    async with deployment(RenovationFinal):
        assert await finish_oldest() == ["cellar: brass taps", "inspected"]
    markers = [("marker_recorded", {"patch_id": PATCH})]
    assert [s for s in await steps(kitchen) if s[0] == "marker_recorded"] == []
    assert [s for s in await steps(bathroom) if s[0] == "marker_recorded"] == markers


SCENARIOS: dict[str, Driver] = {"patching": patching}
"""The scenarios of this group, by sample."""
