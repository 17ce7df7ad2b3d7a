"""Conformance: a run's search attributes, from its start through upserts to
continue-as-new, their names' types, and list queries compiled to SQL over them."""

from __future__ import annotations

from typing import Any

import pytest

from tests.store.conftest import QUEUE, claim_task, start
from tests.store.test_workflow_tasks import commit
from turnout.contracts.events import EventType
from turnout.contracts.limits import InvalidInputError
from turnout.contracts.visibility import InvalidQueryError, parse_query
from turnout.executors.internal import commands as cmd
from turnout.executors.internal.store import SignalParams, Store
from turnout.executors.internal.store.records import RunFilter


def kw(value: str) -> dict[str, Any]:
    return {"type": "Keyword", "value": value}


def num(value: int) -> dict[str, Any]:
    return {"type": "Int", "value": value}


async def ids(store: Store, query: str, **bounds: Any) -> list[str]:
    runs = await store.list_runs("default", RunFilter(query=parse_query(query), **bounds))
    return [run.workflow_id for run in runs]


async def test_search_attributes_are_kept_upserted_and_given_to_the_next_run(
    store: Store,
) -> None:
    run_id = await start(store, "sa", search_attributes={"CustomerId": kw("acme")})
    snapshot, history = await store.load_history(run_id, 0)
    assert snapshot.search_attributes == {"CustomerId": kw("acme")}
    assert history[0].attributes["search_attributes"] == {"CustomerId": kw("acme")}

    item = await claim_task(store)
    upsert = {"OrderTotal": num(7), "CustomerId": None}
    await commit(store, item, [cmd.UpsertSearchAttributes(upsert)])
    run = await store.find_run("default", "sa")
    assert run.search_attribute_values == {"OrderTotal": num(7)}
    (event,) = [
        e
        for e in await store.events("default", run_id, 0)
        if e.type is EventType.UPSERT_WORKFLOW_SEARCH_ATTRIBUTES
    ]
    assert event.attributes == {"search_attributes": upsert}
    assert await ids(store, "CustomerId = 'acme'") == []
    assert await ids(store, "OrderTotal = 7") == ["sa"]

    await store.signal(SignalParams("default", run_id, "go", []))
    item = await claim_task(store)
    await commit(store, item, [cmd.ContinueAsNew(workflow_type="Flow", args=[], task_queue=QUEUE)])
    latest = await store.find_run("default", "sa")
    assert latest.run_id != run_id
    # As on Temporal: the values the run had when it continued.
    assert latest.search_attribute_values == {"OrderTotal": num(7)}
    assert sorted(
        r.run_id
        for r in await store.list_runs("default", RunFilter(query=parse_query("OrderTotal = 7")))
    ) == sorted([run_id, latest.run_id])


async def test_a_name_keeps_the_type_of_its_first_use(store: Store) -> None:
    await start(store, "first", search_attributes={"CustomerId": kw("acme")})
    assert await store.search_attribute_types("default") == {"CustomerId": "Keyword"}
    with pytest.raises(InvalidInputError, match="'CustomerId' is Keyword"):
        await start(store, "second", search_attributes={"CustomerId": num(3)})
    assert await ids(store, "WorkflowId = 'second'") == []
    # Another tenant has names of its own.
    await start(store, "other", tenant_id="t2", search_attributes={"CustomerId": num(3)})
    assert await store.search_attribute_types("t2") == {"CustomerId": "Int"}


async def test_queries_match_by_type_and_order(store: Store) -> None:
    specs = {
        "a": {"OrderTotal": num(5), "Tags": {"type": "KeywordList", "value": ["gift"]}},
        "b": {"OrderTotal": num(50), "Note": {"type": "Text", "value": "Rush, big order"}},
        "c": {"Tags": {"type": "KeywordList", "value": ["bulk", "gift"]}},
    }
    for workflow_id, attributes in specs.items():
        await start(store, workflow_id, search_attributes=attributes)
    assert await ids(store, "OrderTotal > 10") == ["b"]
    assert sorted(await ids(store, "OrderTotal IS NULL OR OrderTotal < 10")) == ["a", "c"]
    assert sorted(await ids(store, "Tags = 'gift'")) == ["a", "c"]
    assert await ids(store, "Tags != 'bulk'") == ["a"]
    assert await ids(store, "Note = 'BIG rush'") == ["b"]
    assert await ids(store, "Note = 'bi'") == []
    assert await ids(store, "ORDER BY OrderTotal DESC") == ["b", "a", "c"]
    assert await ids(store, "ORDER BY OrderTotal", limit=2, offset=1) == ["b", "c"]
    assert await ids(store, "WorkflowId STARTS_WITH 'b' OR WorkflowId IN ('c')") == ["c", "b"]
    counted = await store.count_runs(
        "default", parse_query("GROUP BY ExecutionStatus", grouping=True)
    )
    assert counted.count == 3
    assert [(g.group_values, g.count) for g in counted.groups] == [(["Running"], 3)]
    with pytest.raises(InvalidQueryError, match="'Nope' at column 1"):
        await ids(store, "Nope = 1")
    with pytest.raises(InvalidQueryError, match="STARTS_WITH"):
        await ids(store, "OrderTotal STARTS_WITH '5'")


async def test_starts_with_is_case_sensitive_and_a_text_needs_words(store: Store) -> None:
    await start(store, "upper", search_attributes={"CustomerId": kw("ACME-1")})
    await start(
        store,
        "lower",
        search_attributes={"CustomerId": kw("acme-2"), "Note": {"type": "Text", "value": "x"}},
    )
    assert await ids(store, "CustomerId STARTS_WITH 'acme'") == ["lower"]
    assert await ids(store, "CustomerId STARTS_WITH 'ACME'") == ["upper"]
    with pytest.raises(InvalidQueryError, match="no words"):
        await ids(store, "Note = '!!'")
