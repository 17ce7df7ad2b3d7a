"""The smallest complete turnout program: one workflow, two activities, a timer, a signal.

Run it with ``python examples/hello.py`` (SQLite in a temporary directory), or
point it at PostgreSQL with ``TURNOUT_DATABASE_URL=postgresql://...``.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from datetime import timedelta

import turnout
from turnout import RetryPolicy, activity, workflow


@activity.defn
async def fetch_document(doc_id: str) -> str:
    return f"contents of {doc_id}"


@activity.defn
def summarize(text: str) -> str:  # a sync activity: runs in the worker's thread pool
    return text.upper()[:40]


@workflow.defn
class Summarize:
    def __init__(self) -> None:
        self.approved = False

    @workflow.run
    async def run(self, doc_id: str) -> str:
        text = await workflow.execute_activity(
            fetch_document,
            doc_id,
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(maximum_attempts=3),
        )
        await workflow.sleep(timedelta(milliseconds=200))  # a durable timer
        await workflow.wait_condition(lambda: self.approved)
        return await workflow.execute_activity(
            summarize, text, start_to_close_timeout=timedelta(seconds=10)
        )

    @workflow.signal
    def approve(self) -> None:
        self.approved = True


async def main() -> None:
    url = os.environ.get("TURNOUT_DATABASE_URL")
    with tempfile.TemporaryDirectory() as tmp:
        url = url or f"sqlite:///{tmp}/hello.db"
        client = await turnout.connect(database_url=url)
        async with turnout.Worker(
            client, task_queue="demo", workflows=[Summarize], activities=[fetch_document, summarize]
        ):
            handle = await client.start_workflow(
                Summarize.run,
                "doc-42",
                id="summarize-doc-42",
                task_queue="demo",
                id_conflict_policy=turnout.IdConflictPolicy.USE_EXISTING,
            )
            await handle.signal(Summarize.approve)
            result = await handle.result()
            run = await handle.describe()
            print(f"database : {url}")
            print(f"result   : {result!r}")
            print(f"state    : {run.state.value}")
            print(f"timeline : {run.workflow_id} / run {run.run_id}")
            t0 = run.requested_at
            for event in await handle.events():
                keys = ("activity_type", "attempt", "name", "duration", "from", "to")
                attrs = {k: v for k, v in event.attributes.items() if k in keys}
                elapsed = (event.at - t0).total_seconds() * 1000
                print(f"  {event.seq:>3}  {elapsed:8.1f} ms  {event.type.value:<26} {attrs or ''}")
        await client.close()


if __name__ == "__main__":
    asyncio.run(main())
