"""Workflows, activities and policies for the governance tests (all executors)."""

from __future__ import annotations

from datetime import timedelta

from turnout import ActivityError, ApplicationError, PolicyRequest, Verdict, activity, workflow

STEP = timedelta(seconds=20)


@activity.defn
async def ship(env: str) -> str:
    return f"shipped to {env}"


@activity.defn
async def drop_table(table: str) -> str:
    return f"dropped {table}"  # never runs: the policy denies it


@activity.defn
async def transfer(amount: int) -> str:
    return f"transferred {amount}"


@activity.defn
async def render_report(name: str) -> str:
    artifact = await activity.record_artifact(
        name,
        f"file:///reports/{name}.pdf",
        media_type="application/pdf",
        size=2048,
        digest="sha256:00ff",
        attributes={"pages": 3},
    )
    return artifact.artifact_id


@workflow.defn
class Deploy:
    """Asks for an approval, then ships (or explains why not)."""

    @workflow.run
    async def run(self, env: str, timeout_s: float | None = None) -> str:
        decision = await workflow.request_approval(
            "deploy", details={"env": env}, timeout=timeout_s
        )
        if not decision.approved:
            return f"not shipped: {decision.outcome.value} by {decision.decided_by}"
        shipped = await workflow.execute_activity(ship, env, start_to_close_timeout=STEP)
        return f"{shipped}, approved by {decision.decided_by} ({decision.reason})"


@workflow.defn
class Guarded:
    """One activity the policy denies, one it holds for an approval."""

    @workflow.run
    async def run(self, amount: int) -> str:
        try:
            await workflow.execute_activity(drop_table, "users", start_to_close_timeout=STEP)
            denied = "not denied"
        except ActivityError as exc:
            cause = exc.cause
            denied = cause.type if isinstance(cause, ApplicationError) else repr(cause)
        try:
            moved = await workflow.execute_activity(transfer, amount, start_to_close_timeout=STEP)
        except ActivityError as exc:
            cause = exc.cause
            why = cause.type if isinstance(cause, ApplicationError) else repr(cause)
            moved = f"refused: {why}"
        return f"{denied}; {moved}"


@workflow.defn
class Reports:
    """Records two artifacts."""

    @workflow.run
    async def run(self) -> list[str]:
        first = await workflow.execute_activity(render_report, "q1", start_to_close_timeout=STEP)
        second = await workflow.execute_activity(render_report, "q2", start_to_close_timeout=STEP)
        return [first, second]


def guard_policy(request: PolicyRequest) -> Verdict | None:
    """Denies dropping tables; holds transfers over 100 for the 'treasury' approval; at the
    start, denies deploying to 'forbidden' and holds deploying to 'moon' for 'launch'."""
    if request.kind == "workflow":
        if request.args and request.args[0] == "forbidden":
            return Verdict.deny("nothing ships to forbidden")
        if request.args and request.args[0] == "moon":
            return Verdict.require_approval("a moon launch", approval="launch")
        return None
    if request.name == "drop_table":
        return Verdict.deny(f"dropping {request.args[0]} is never allowed")
    if request.name == "transfer" and request.args and request.args[0] > 100:
        return Verdict.require_approval("large transfer", approval="treasury")
    return None


WORKFLOWS = [Deploy, Guarded, Reports]
ACTIVITIES = [ship, drop_table, transfer, render_report]
