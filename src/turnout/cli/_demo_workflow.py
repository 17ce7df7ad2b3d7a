"""The workflow ``turnout demo`` runs: an activity that succeeds on its second attempt,
a durable timer and a signal, all on SQLite with an in-process worker."""

from __future__ import annotations

from datetime import timedelta

from turnout import ApplicationError, RetryPolicy, activity, workflow


@activity.defn(name="demo.fetch_report")
async def fetch_report(topic: str) -> str:
    attempt = activity.info().attempt
    if attempt == 1:
        raise ApplicationError("the report service is warming up", type="NotReady")
    return f"report on {topic} (fetched on attempt {attempt})"


@workflow.defn(name="demo.Report")
class Report:
    def __init__(self) -> None:
        self.approved_by: str | None = None

    @workflow.run
    async def run(self, topic: str) -> str:
        report = await workflow.execute_activity(
            fetch_report,
            topic,
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=200)),
        )
        await workflow.sleep(timedelta(milliseconds=300))
        await workflow.wait_condition(lambda: self.approved_by is not None)
        return f"{report}, approved by {self.approved_by}"

    @workflow.signal
    def approve(self, who: str) -> None:
        self.approved_by = who
