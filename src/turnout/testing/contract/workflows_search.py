"""Workflows that read and change their search attributes (``test_search_attributes.py``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from turnout import workflow
from turnout.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

CUSTOMER = SearchAttributeKey.for_keyword("CustomerId")
TOTAL = SearchAttributeKey.for_int("OrderTotal")
SCORE = SearchAttributeKey.for_float("Score")
RUSH = SearchAttributeKey.for_bool("Rush")
DUE = SearchAttributeKey.for_datetime("DueAt")
TAGS = SearchAttributeKey.for_keyword_list("Tags")
NOTE = SearchAttributeKey.for_text("Note")


def seen(attributes: TypedSearchAttributes) -> dict[str, Any]:
    """Search attributes as JSON values (a datetime as ISO text), by name."""
    return {
        pair.key.name: pair.value.isoformat() if isinstance(pair.value, datetime) else pair.value
        for pair in attributes
    }


@workflow.defn
class Searchable:
    """Reports its search attributes, changes them in an update, waits until told to
    finish, then continues as new once; the continued run returns what both runs saw."""

    def __init__(self) -> None:
        self._done = False
        self._start: dict[str, Any] | None = None

    @workflow.update
    def retag(self, tags: list[str]) -> dict[str, Any]:
        workflow.upsert_search_attributes([TAGS.value_set(tags), RUSH.value_unset()])
        workflow.upsert_search_attributes(TypedSearchAttributes([SearchAttributePair(TOTAL, 99)]))
        return seen(workflow.info().typed_search_attributes)

    @workflow.signal
    def finish(self) -> None:
        self._done = True

    @workflow.run
    async def run(self, first: dict[str, Any] | None) -> dict[str, Any]:
        info = workflow.info()
        if first is not None:
            return {"first": first, "continued": seen(info.typed_search_attributes)}
        self._start = {
            "typed": seen(info.typed_search_attributes),
            "customer": info.typed_search_attributes.get(CUSTOMER),
            "untyped_total": info.search_attributes.get("OrderTotal"),
            "has_rush": info.typed_search_attributes.get(RUSH) is not None,
        }
        await workflow.wait_condition(lambda: self._done)
        workflow.continue_as_new(
            {**self._start, "end": seen(workflow.info().typed_search_attributes)}
        )


@workflow.defn
class Tagged:
    """Returns at once: a run whose search attributes a listing finds."""

    @workflow.run
    async def run(self, hold: bool) -> str:
        if hold:
            await workflow.wait_condition(lambda: False)
        return workflow.info().workflow_id


@workflow.defn
class TaggingParent:
    """Starts a child with search attributes of its own; returns what the child saw."""

    @workflow.run
    async def run(self, child_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await workflow.execute_child_workflow(
            SearchChild.run,
            id=child_id,
            search_attributes=TypedSearchAttributes(
                [SearchAttributePair(CUSTOMER, "child-of-" + workflow.info().workflow_id)]
            ),
        )
        return result


@workflow.defn
class SearchChild:
    @workflow.run
    async def run(self) -> dict[str, Any]:
        return seen(workflow.info().typed_search_attributes)


SEARCH_WORKFLOWS = [Searchable, Tagged, TaggingParent, SearchChild]


@workflow.defn
class Mistyped:
    """Upserts CustomerId, a Keyword, as an Int: its workflow task fails each time."""

    @workflow.run
    async def run(self) -> str:
        workflow.upsert_search_attributes([SearchAttributeKey.for_int("CustomerId").value_set(3)])
        return "never"


SEARCH_WORKFLOWS.append(Mistyped)
