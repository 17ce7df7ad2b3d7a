"""The behaviour of samples-python's ``hello_search_attributes``: a run started with
search attributes changes them from its code, the client reads them back with
``describe()`` and finds the run by them with a list query."""

from __future__ import annotations

from turnout import workflow
from turnout.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from turnout.testing.contract.corpus.support import COMPLETED, STARTED, Driver, start, steps, until
from turnout.testing.harness import ExecutorHarness

CUSTOMER = SearchAttributeKey.for_keyword("CustomerId")
SCORE = SearchAttributeKey.for_float("Score")
RUSH = SearchAttributeKey.for_bool("Rush")


@workflow.defn
class LoyaltyReview:
    """Scores a customer and records the score as a search attribute."""

    @workflow.run
    async def run(self, purchases: int) -> float:
        score = round(purchases * 1.5, 1)
        workflow.upsert_search_attributes([SCORE.value_set(score), RUSH.value_set(score > 10)])
        return score


async def hello_search_attributes(env: ExecutorHarness) -> None:
    customer = f"loyal-{env.task_queue}"
    handle = await start(
        env,
        LoyaltyReview.run,
        8,
        search_attributes=TypedSearchAttributes([SearchAttributePair(CUSTOMER, customer)]),
    )
    assert await handle.result() == 12.0
    attributes = (await handle.describe()).typed_search_attributes
    assert (attributes[CUSTOMER], attributes[SCORE], attributes[RUSH]) == (customer, 12.0, True)
    query = f"CustomerId = '{customer}' AND Score > 10 AND Rush = true"

    async def listed() -> bool:
        return [run.id async for run in env.client.list_workflows(query)] == [handle.id]

    await until(listed)  # Temporal's visibility shows a run a moment after it changes
    assert (await env.client.count_workflows(f"CustomerId = '{customer}'")).count == 1
    assert await steps(handle) == [
        STARTED,
        ("upsert_workflow_search_attributes", {}),
        COMPLETED,
    ]


SCENARIOS: dict[str, Driver] = {"hello_search_attributes": hello_search_attributes}
"""The scenarios of this group, by sample."""

WORKFLOWS = [LoyaltyReview]
ACTIVITIES: list[object] = []
