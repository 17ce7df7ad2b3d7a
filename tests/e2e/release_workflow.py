"""A release: a build that fails once and is retried, a soak timer, an approval, a
published artifact. Its timeline has a bar of each kind (docs/images/console-run.png)."""

from __future__ import annotations

from datetime import timedelta

from turnout import ApplicationError, RetryPolicy, activity, workflow

STEP = timedelta(seconds=20)
RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=400), maximum_attempts=3)


@activity.defn
async def build(version: str) -> str:
    if activity.info().attempt == 1:
        raise ApplicationError("the registry is busy; try again")
    await activity.record_artifact(
        "build-log",
        f"file:///builds/{version}.log",
        media_type="text/plain",
        size=5120,
        digest="sha256:5f1e",
    )
    return f"registry.example/app:{version}"


@activity.defn
async def publish(image: str) -> str:
    return f"published {image}"


@workflow.defn
class Release:
    """Build (retried once), soak for a moment, wait for an approval, publish."""

    @workflow.run
    async def run(self, version: str) -> str:
        image = await workflow.execute_activity(
            build, version, start_to_close_timeout=STEP, retry_policy=RETRY
        )
        await workflow.sleep(timedelta(milliseconds=600))
        decision = await workflow.request_approval(
            "release", details={"version": version, "image": image}
        )
        if not decision.approved:
            return f"{version} held back by {decision.decided_by}"
        return await workflow.execute_activity(publish, image, start_to_close_timeout=STEP)


WORKFLOWS = [Release]
ACTIVITIES = [build, publish]
