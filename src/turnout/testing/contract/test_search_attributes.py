"""Search attributes and list queries agree on every executor: given at the start, read
by the workflow (``info().typed_search_attributes``), changed by
``upsert_search_attributes`` and recorded as ``upsert_workflow_search_attributes``, kept
by continue-as-new (the values the run has then, as Temporal does), shown by
``describe()``; ``list_workflows(query)`` and ``count_workflows(query)`` find the runs
Temporal's visibility finds, and a query or a value that cannot be used is refused with
a one-line error before anything starts.

Temporal's visibility is eventually consistent: a listing there is read again until it
shows what the runs hold (bounded), as a user of it does.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import pytest

from turnout.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from turnout.contracts.errors import WorkflowNotFoundError
from turnout.contracts.events import EventType
from turnout.contracts.limits import InvalidInputError
from turnout.contracts.visibility import InvalidQueryError
from turnout.testing.contract.workflows_search import (
    CUSTOMER,
    DUE,
    NOTE,
    RUSH,
    SCORE,
    SEARCH_WORKFLOWS,
    TAGS,
    TOTAL,
    Mistyped,
    Searchable,
    Tagged,
    TaggingParent,
)
from turnout.testing.harness import ExecutorHarness
from turnout.worker import Worker

pytestmark = pytest.mark.asyncio

T = TypeVar("T")
VISIBLE_WITHIN = 30.0
"""Seconds a listing may take to show what the runs hold (Temporal's visibility lag)."""

DUE_AT = datetime(2026, 12, 24, 18, 0, tzinfo=UTC)


def _start_attributes(customer: str) -> TypedSearchAttributes:
    return TypedSearchAttributes(
        [
            SearchAttributePair(CUSTOMER, customer),
            SearchAttributePair(TOTAL, 42),
            SearchAttributePair(SCORE, 0.5),
            SearchAttributePair(RUSH, True),
            SearchAttributePair(DUE, DUE_AT),
            SearchAttributePair(NOTE, "Rush order for a Big Customer"),
        ]
    )


async def _eventually(probe: Callable[[], Awaitable[T]], ok: Callable[[T], bool]) -> T:
    async with asyncio.timeout(VISIBLE_WITHIN):
        while True:
            value = await probe()
            if ok(value):
                return value
            await asyncio.sleep(0.1)


async def test_search_attributes_from_start_to_upsert_to_continue_as_new(
    executor: ExecutorHarness,
) -> None:
    client = executor.client
    task_queue = f"search-{uuid.uuid4().hex[:8]}"
    workflow_id = f"search-{uuid.uuid4().hex[:8]}"
    customer = f"c-{uuid.uuid4().hex[:8]}"
    async with Worker(
        client, task_queue=task_queue, workflows=SEARCH_WORKFLOWS, max_cached_workflows=0
    ):
        handle = await client.start_workflow(
            Searchable.run,
            None,
            id=workflow_id,
            task_queue=task_queue,
            search_attributes=_start_attributes(customer),
        )
        first_run = handle.result_run_id
        described = await handle.describe()
        assert described.typed_search_attributes[CUSTOMER] == customer
        assert described.typed_search_attributes[DUE] == DUE_AT
        assert described.search_attributes["OrderTotal"] == [42]
        # The run reads its start's attributes in its first task: let it end before the
        # update, so that the update comes in a task of its own.
        await _eventually(
            handle.events,
            lambda events: any(e.type is EventType.WORKFLOW_TASK_COMPLETED for e in events),
        )
        after_update = await handle.execute_update(Searchable.retag, ["gift", "fragile"])
        assert after_update["Tags"] == ["gift", "fragile"]
        assert "Rush" not in after_update
        assert after_update["OrderTotal"] == 99
        await handle.signal(Searchable.finish)
        result = await handle.result()
    started = {
        "CustomerId": customer,
        "OrderTotal": 42,
        "Score": 0.5,
        "Rush": True,
        "DueAt": DUE_AT.isoformat(),
        "Note": "Rush order for a Big Customer",
    }
    upserted = {**started, "Tags": ["gift", "fragile"], "OrderTotal": 99}
    del upserted["Rush"]
    assert result["first"] == {
        "typed": started,
        "customer": customer,
        "untyped_total": [42],
        "has_rush": True,
        "end": upserted,
    }
    # As on Temporal, the next run has the search attributes the run had when it went on.
    assert result["continued"] == upserted
    latest = await client.get_workflow_handle(workflow_id).describe()
    assert latest.run_id != first_run
    assert latest.typed_search_attributes[TAGS] == ["gift", "fragile"]
    events = await client.get_workflow_handle(workflow_id, run_id=first_run).events()
    start_event = next(e for e in events if e.type is EventType.WORKFLOW_STARTED)
    assert start_event.attributes["search_attributes"]["CustomerId"] == {
        "type": "Keyword",
        "value": customer,
    }
    upserts = [e for e in events if e.type is EventType.UPSERT_WORKFLOW_SEARCH_ATTRIBUTES]
    assert [sorted(e.attributes["search_attributes"]) for e in upserts] == [
        ["Rush", "Tags"],
        ["OrderTotal"],
    ]
    assert upserts[0].attributes["search_attributes"]["Rush"] is None


async def test_list_and_count_workflows_by_query(executor: ExecutorHarness) -> None:
    client = executor.client
    task_queue = f"search-{uuid.uuid4().hex[:8]}"
    batch = uuid.uuid4().hex[:8]
    specs: dict[str, tuple[int, list[str], str, bool]] = {
        # workflow id: (OrderTotal, Tags, Note, still open)
        f"{batch}-a": (5, ["gift"], "Rush order", False),
        f"{batch}-b": (50, ["gift", "fragile"], "standard shipping", False),
        f"{batch}-c": (500, ["bulk"], "rush, by ship", True),
    }
    async with Worker(client, task_queue=task_queue, workflows=SEARCH_WORKFLOWS):
        for workflow_id, (total, tags, note, hold) in specs.items():
            handle = await client.start_workflow(
                Tagged.run,
                hold,
                id=workflow_id,
                task_queue=task_queue,
                search_attributes=TypedSearchAttributes(
                    [
                        SearchAttributePair(CUSTOMER, f"{batch}-{workflow_id[-1]}"),
                        SearchAttributePair(TOTAL, total),
                        SearchAttributePair(TAGS, tags),
                        SearchAttributePair(NOTE, note),
                        # Only b has a score: the others have none (IS NULL).
                        *([SearchAttributePair(SCORE, 0.5)] if workflow_id.endswith("b") else []),
                    ]
                ),
            )
            if not hold:
                await handle.result()
        mine = f"CustomerId STARTS_WITH '{batch}-'"

        async def ids(query: str) -> set[str]:
            return {run.workflow_id async for run in client.list_workflows(f"{mine} AND ({query})")}

        def expect(keep: Callable[[int, list[str], str, bool], bool]) -> set[str]:
            return {wid for wid, spec in specs.items() if keep(*spec)}

        queries: dict[str, set[str]] = {
            "OrderTotal > 10": expect(lambda total, *_: total > 10),
            "OrderTotal BETWEEN 1 AND 100": expect(lambda total, *_: 1 <= total <= 100),
            "Tags = 'gift'": expect(lambda _t, tags, *_: "gift" in tags),
            "Tags IN ('fragile', 'bulk')": expect(
                lambda _t, tags, *_: bool({"fragile", "bulk"} & set(tags))
            ),
            "Note = 'rush'": expect(lambda _t, _g, note, _h: "rush" in note.lower()),
            "ExecutionStatus = 'Running'": expect(lambda *spec: spec[3]),
            "ExecutionStatus != 'Running' AND OrderTotal < 100": expect(
                lambda total, _g, _n, hold: not hold and total < 100
            ),
            f"CustomerId IN ('{batch}-a', '{batch}-c') OR OrderTotal = 50": set(specs),
            f"WorkflowId = '{batch}-b'": {f"{batch}-b"},
            "Score IS NULL": {f"{batch}-a", f"{batch}-c"},
            "Score >= 0.5": {f"{batch}-b"},
        }
        for query, wanted in queries.items():
            found = await _eventually(lambda q=query: ids(q), lambda got, w=wanted: got == w)  # type: ignore[misc]
            assert found == wanted, query
        ordered = await client.list_workflows(f"{mine} ORDER BY OrderTotal DESC")
        assert [r.workflow_id for r in ordered] == sorted(
            specs, key=lambda wid: specs[wid][0], reverse=True
        )
        limited = await client.list_workflows(f"{mine} ORDER BY OrderTotal", limit=2)
        assert [r.workflow_id for r in limited] == [f"{batch}-a", f"{batch}-b"]
        counted = await client.count_workflows(f"{mine} GROUP BY ExecutionStatus")
        assert counted.count == len(specs)
        assert {tuple(g.group_values): g.count for g in counted.groups} == {
            ("Completed",): 2,
            ("Running",): 1,
        }
        assert (await client.count_workflows(f"{mine} AND OrderTotal >= 50")).count == 2
        histories = [
            h async for h in client.list_workflows(f"{mine} AND Tags = 'bulk'").map_histories()
        ]
        assert [h.workflow_id for h in histories] == [f"{batch}-c"]
        await client.get_workflow_handle(f"{batch}-c").terminate(reason="done")


async def test_a_child_gets_the_search_attributes_its_parent_gives(
    executor: ExecutorHarness,
) -> None:
    task_queue = f"search-{uuid.uuid4().hex[:8]}"
    parent_id = f"search-parent-{uuid.uuid4().hex[:8]}"
    child_id = f"search-child-{uuid.uuid4().hex[:8]}"
    async with Worker(executor.client, task_queue=task_queue, workflows=SEARCH_WORKFLOWS):
        seen = await executor.client.execute_workflow(
            TaggingParent.run, child_id, id=parent_id, task_queue=task_queue
        )
    assert seen == {"CustomerId": f"child-of-{parent_id}"}
    child = await executor.client.get_workflow_handle(child_id).describe()
    assert child.typed_search_attributes.get(CUSTOMER) == f"child-of-{parent_id}"
    parent = await executor.client.get_workflow_handle(parent_id).describe()
    assert CUSTOMER not in parent.typed_search_attributes


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("CustomerId = ", "ends early"),
        ("CustomerId = 'a' )", "column 18"),
        ("OrderTotal >> 3", "column 13"),
        ("ExecutionStatus = 'Runing'", "Running"),
        ("CustomerId = 'a' GROUP BY ExecutionStatus", "GROUP BY"),
        ("CustomerId ~ 'a'", "'~'"),
    ],
)
async def test_a_malformed_query_is_refused_naming_the_token(
    executor: ExecutorHarness, query: str, names: str
) -> None:
    with pytest.raises(InvalidQueryError, match=names) as refused:
        await executor.client.list_workflows(query)
    assert "\n" not in str(refused.value)


async def test_an_unknown_field_in_a_query_is_refused(executor: ExecutorHarness) -> None:
    with pytest.raises(InvalidQueryError, match="NoSuchField"):
        await executor.client.list_workflows("NoSuchField = 'x'")
    with pytest.raises(InvalidQueryError, match="OrderTotal"):
        await executor.client.count_workflows("OrderTotal = 'many'")


@pytest.mark.parametrize(
    ("attributes", "names"),
    [
        (TypedSearchAttributes([SearchAttributePair(TOTAL, "many")]), "OrderTotal"),
        (TypedSearchAttributes([SearchAttributePair(TOTAL, True)]), "takes an int"),
        (TypedSearchAttributes([SearchAttributePair(TAGS, "gift")]), "list of str"),
        (
            TypedSearchAttributes(
                [SearchAttributePair(SearchAttributeKey.for_keyword("WorkflowType"), "x")]
            ),
            "every run has",
        ),
        (TypedSearchAttributes([SearchAttributePair(CUSTOMER, "x" * 300)]), "at most 255"),
        ({"CustomerId": "acme"}, "lists of values"),
        (["CustomerId"], "TypedSearchAttributes"),
    ],
)
async def test_search_attributes_that_cannot_be_kept_are_refused_before_the_start(
    executor: ExecutorHarness, attributes: Any, names: str
) -> None:
    workflow_id = f"search-refused-{uuid.uuid4().hex[:8]}"
    with pytest.raises(InvalidInputError, match=names) as refused:
        await executor.client.start_workflow(
            Tagged.run,
            False,
            id=workflow_id,
            task_queue="search-refused",
            search_attributes=attributes,
        )
    assert "\n" not in str(refused.value)
    with pytest.raises(WorkflowNotFoundError):
        await executor.client.get_workflow_handle(workflow_id).describe()


async def test_a_value_of_another_type_than_the_names_is_refused(
    executor: ExecutorHarness,
) -> None:
    task_queue = f"search-{uuid.uuid4().hex[:8]}"
    known = f"search-known-{uuid.uuid4().hex[:8]}"
    async with Worker(executor.client, task_queue=task_queue, workflows=SEARCH_WORKFLOWS):
        # CustomerId is a Keyword (registered on Temporal; fixed by this first use here).
        await executor.client.execute_workflow(
            Tagged.run,
            False,
            id=known,
            task_queue=task_queue,
            search_attributes=TypedSearchAttributes([SearchAttributePair(CUSTOMER, "k")]),
        )
        as_int = SearchAttributeKey.for_int("CustomerId")
        refused_id = f"search-mistyped-{uuid.uuid4().hex[:8]}"
        with pytest.raises(InvalidInputError, match="CustomerId") as refused:
            await executor.client.start_workflow(
                Tagged.run,
                False,
                id=refused_id,
                task_queue=task_queue,
                search_attributes=TypedSearchAttributes([SearchAttributePair(as_int, 7)]),
            )
        assert "\n" not in str(refused.value)
        with pytest.raises(WorkflowNotFoundError):
            await executor.client.get_workflow_handle(refused_id).describe()
        # The refusal harms no other run: the next start goes through.
        assert (
            await executor.client.execute_workflow(
                Tagged.run, False, id=f"{known}-after", task_queue=task_queue
            )
            == f"{known}-after"
        )


async def test_an_upsert_of_another_type_fails_the_workflow_task_and_harms_no_other_run(
    executor: ExecutorHarness,
) -> None:
    client = executor.client
    task_queue = f"search-{uuid.uuid4().hex[:8]}"
    async with Worker(client, task_queue=task_queue, workflows=SEARCH_WORKFLOWS):
        # CustomerId is a Keyword (registered on Temporal; fixed by this first use here).
        await client.execute_workflow(
            Tagged.run,
            False,
            id=f"search-first-{uuid.uuid4().hex[:8]}",
            task_queue=task_queue,
            search_attributes=TypedSearchAttributes([SearchAttributePair(CUSTOMER, "k")]),
        )
        handle = await client.start_workflow(
            Mistyped.run, id=f"search-mistyped-{uuid.uuid4().hex[:8]}", task_queue=task_queue
        )
        other = f"search-other-{uuid.uuid4().hex[:8]}"
        assert (
            await client.execute_workflow(Tagged.run, False, id=other, task_queue=task_queue)
            == other
        )
        events = await _eventually(
            handle.events,
            lambda events: any(e.type is EventType.WORKFLOW_TASK_FAILED for e in events),
        )
        assert not any(e.type is EventType.UPSERT_WORKFLOW_SEARCH_ATTRIBUTES for e in events)
        assert not (await handle.describe()).state.is_terminal
        await handle.terminate(reason="mistyped")
