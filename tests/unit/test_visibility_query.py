"""The list query parser: what it reads, what it refuses (one line naming the token),
and its text again for a server."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from turnout.common import (
    SearchAttributeKey,
    SearchAttributePair,
    TypedSearchAttributes,
)
from turnout.contracts.limits import InvalidInputError
from turnout.contracts.schedules import ScheduleIntervalSpec
from turnout.contracts.search_attributes import (
    check_search_attribute_updates,
    check_search_attributes,
    typed_from_stored,
)
from turnout.contracts.visibility import And, Compare, InvalidQueryError, Or, parse_query, render


def test_and_binds_before_or_and_parentheses_group() -> None:
    query = parse_query("A = 1 OR B = 2 AND C = 3")
    assert isinstance(query.where, Or)
    assert isinstance(query.where.right, And)
    grouped = parse_query("(A = 1 OR B = 2) AND C = 3")
    assert isinstance(grouped.where, And)


@pytest.mark.parametrize(
    ("text", "op", "value"),
    [
        ("X != 'a'", "!=", "a"),
        ("X <> 'a'", "!=", "a"),
        ("X >= -2.5", ">=", -2.5),
        ('X = "it\'s"', "=", "it's"),
        ("X = 'it''s'", "=", "it's"),
        ("X = 'it\\'s'", "=", "it's"),
        ("X BETWEEN 1 AND 2", "between", (1, 2)),
        ("X NOT IN ('a', 'b')", "not in", ("a", "b")),
        ("X STARTS_WITH 'pre'", "starts_with", "pre"),
        ("X IS NOT NULL", "is not null", None),
        ("x = true", "=", True),
        ("`My Field` = 1", "=", 1),
    ],
)
def test_comparisons(text: str, op: str, value: object) -> None:
    where = parse_query(text).where
    assert isinstance(where, Compare)
    assert (where.op, where.value) == (op, value)
    # Rendered and read again, the condition is the same.
    assert parse_query(render(where)).where == where


def test_order_and_group() -> None:
    query = parse_query("A = 1 ORDER BY StartTime DESC, B")
    assert [(o.field, o.descending) for o in query.order_by] == [("StartTime", True), ("B", False)]
    assert parse_query("GROUP BY ExecutionStatus", grouping=True).group_by == ("ExecutionStatus",)
    assert parse_query("  ").where is None


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("A = ", "ends early"),
        ("A = 1 B = 2", "'B' at column 7"),
        ("A IN (1, 2", "ends early"),
        ("A IN 1", "'(' after IN"),
        ("A NOT = 1", "IN after NOT"),
        ("A STARTS_WITH 1", "quoted string"),
        ("A = 'x", "unexpected character"),
        ("(A = 1", "')'"),
        ("GROUP BY ExecutionStatus", "only for count_workflows"),
        ("A = 1\x00", "NUL"),
    ],
)
def test_malformed_queries_are_refused_in_one_line(text: str, names: str) -> None:
    with pytest.raises(InvalidQueryError, match=re.escape(names)) as refused:
        parse_query(text)
    assert "\n" not in str(refused.value)
    assert isinstance(refused.value, InvalidInputError)


def test_grouping_is_only_by_execution_status() -> None:
    with pytest.raises(InvalidQueryError, match="only GROUP BY ExecutionStatus"):
        parse_query("GROUP BY WorkflowType", grouping=True)


def test_typed_attributes_keep_one_pair_per_name_sorted() -> None:
    customer = SearchAttributeKey.for_keyword("CustomerId")
    total = SearchAttributeKey.for_int("OrderTotal")
    attributes = TypedSearchAttributes(
        [SearchAttributePair(total, 3), SearchAttributePair(customer, "a")]
    )
    assert [p.key.name for p in attributes] == ["CustomerId", "OrderTotal"]
    assert customer in attributes
    assert SearchAttributeKey.for_text("CustomerId") not in attributes  # same name, other type
    assert attributes.updated(SearchAttributePair(total, 4))[total] == 4
    assert attributes.get(SearchAttributeKey.for_bool("Rush"), "none") == "none"
    with pytest.raises(ValueError, match="given twice"):
        TypedSearchAttributes([SearchAttributePair(total, 1), SearchAttributePair(total, 2)])


def test_stored_form_round_trips_and_updates_unset() -> None:
    due = SearchAttributeKey.for_datetime("DueAt")
    naive = datetime(2026, 1, 2, 3, 4, 5)
    stored = check_search_attributes(TypedSearchAttributes([SearchAttributePair(due, naive)]))
    assert stored == {"DueAt": {"type": "Datetime", "value": "2026-01-02T03:04:05+00:00"}}
    assert typed_from_stored(stored)[due] == naive.replace(tzinfo=UTC)
    updates = check_search_attribute_updates([due.value_unset()])
    assert updates == {"DueAt": None}
    assert check_search_attribute_updates({"Tags": [], "CustomerId": ["a"]}) == {
        "Tags": None,
        "CustomerId": {"type": "Keyword", "value": "a"},
    }
    with pytest.raises(InvalidInputError, match="takes a float"):
        check_search_attributes(
            TypedSearchAttributes([SearchAttributePair(SearchAttributeKey.for_float("S"), "1")])
        )
    with pytest.raises(InvalidInputError, match=r"NaN|finite"):
        check_search_attributes(
            TypedSearchAttributes(
                [SearchAttributePair(SearchAttributeKey.for_float("S"), float("nan"))]
            )
        )


def test_a_skip_of_whole_days_is_jumped_over_and_one_of_every_day_never_fires() -> None:
    from datetime import timedelta

    from turnout.contracts.schedule_times import check_spec, next_fire
    from turnout.contracts.schedules import ScheduleCalendarSpec, ScheduleRange, ScheduleSpec

    every_second = {
        "second": [ScheduleRange(0, 59)],
        "minute": [ScheduleRange(0, 59)],
        "hour": [ScheduleRange(0, 23)],
    }
    weekend = ScheduleCalendarSpec(**every_second, day_of_week=[ScheduleRange(0), ScheduleRange(6)])
    spec = check_spec(ScheduleSpec(cron_expressions=["* * * * *"], skip=[weekend]))
    friday_night = datetime(2026, 12, 4, 23, 59, 30, tzinfo=UTC)
    assert next_fire(spec, friday_night) == datetime(2026, 12, 7, tzinfo=UTC)  # Monday
    always = ScheduleCalendarSpec(**every_second)
    hourly = ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(hours=1))], skip=[always])
    assert next_fire(check_spec(hourly), friday_night) is None


def test_starts_with_is_a_range_and_names_of_the_server_are_refused() -> None:
    from turnout.contracts.search_attributes import SearchAttributeKey, check_search_attributes

    with pytest.raises(InvalidInputError, match="'Temporal'"):
        check_search_attributes(
            TypedSearchAttributes(
                [SearchAttributePair(SearchAttributeKey.for_keyword("TemporalThing"), "x")]
            )
        )
