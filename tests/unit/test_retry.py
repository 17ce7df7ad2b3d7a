"""RetryPolicy: Temporal's defaults, the backoff arithmetic and the retry decision."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from turnout.contracts import RetryPolicy


def test_defaults_are_temporals() -> None:
    policy = RetryPolicy()
    assert policy.initial_interval == timedelta(seconds=1)
    assert policy.backoff_coefficient == 2.0
    assert policy.maximum_interval is None
    assert policy.effective_maximum_interval == timedelta(seconds=100)
    assert policy.maximum_attempts == 0
    assert policy.non_retryable_error_types is None


def test_default_maximum_interval_follows_initial_interval() -> None:
    policy = RetryPolicy(initial_interval=timedelta(milliseconds=250))
    assert policy.effective_maximum_interval == timedelta(seconds=25)


def test_explicit_maximum_interval_wins() -> None:
    policy = RetryPolicy(maximum_interval=timedelta(seconds=7))
    assert policy.effective_maximum_interval == timedelta(seconds=7)


def test_backoff_grows_by_the_coefficient() -> None:
    policy = RetryPolicy(initial_interval=timedelta(seconds=2), backoff_coefficient=3.0)
    assert [policy.backoff(n) for n in (1, 2, 3, 4)] == [
        timedelta(seconds=2),
        timedelta(seconds=6),
        timedelta(seconds=18),
        timedelta(seconds=54),
    ]


def test_backoff_is_capped_by_the_maximum_interval() -> None:
    policy = RetryPolicy(maximum_interval=timedelta(seconds=10))
    delays = [policy.backoff(n) for n in range(1, 10)]
    assert delays[:4] == [timedelta(seconds=s) for s in (1, 2, 4, 8)]
    assert all(d == timedelta(seconds=10) for d in delays[4:])


def test_backoff_with_coefficient_one_is_constant() -> None:
    policy = RetryPolicy(initial_interval=timedelta(seconds=3), backoff_coefficient=1.0)
    assert {policy.backoff(n) for n in range(1, 20)} == {timedelta(seconds=3)}


def test_default_backoff_reaches_the_default_cap() -> None:
    policy = RetryPolicy()
    assert policy.backoff(7) == timedelta(seconds=64)
    assert policy.backoff(8) == timedelta(seconds=100)
    assert policy.backoff(40) == timedelta(seconds=100)


@pytest.mark.parametrize(("coefficient", "attempt"), [(2.0, 48), (2.0, 60), (2.0, 2000), (5.0, 26)])
def test_backoff_stays_capped_for_very_late_attempts(coefficient: float, attempt: int) -> None:
    policy = RetryPolicy(backoff_coefficient=coefficient)
    assert policy.backoff(attempt) == timedelta(seconds=100)


@settings(database=None, max_examples=200)
@given(
    initial_ms=st.integers(min_value=1, max_value=60_000),
    coefficient=st.floats(min_value=1.0, max_value=10.0),
    # Later attempts can overflow; see test_backoff_stays_capped_for_very_late_attempts.
    attempt=st.integers(min_value=1, max_value=12),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_jitter_stays_within_80_to_100_percent_of_the_base(
    initial_ms: int, coefficient: float, attempt: int, seed: int
) -> None:
    policy = RetryPolicy(
        initial_interval=timedelta(milliseconds=initial_ms), backoff_coefficient=coefficient
    )
    base = policy.backoff(attempt)
    delay = policy.next_delay(attempt, random.Random(seed))
    # timedelta keeps microseconds: allow one microsecond of rounding on each side.
    assert base * 0.8 - timedelta(microseconds=1) <= delay <= base
    assert delay <= policy.effective_maximum_interval


def test_jitter_is_reproducible_with_a_seeded_rng() -> None:
    policy = RetryPolicy()
    first = [policy.next_delay(n, random.Random(7)) for n in range(1, 6)]
    second = [policy.next_delay(n, random.Random(7)) for n in range(1, 6)]
    assert first == second


def test_jitter_without_rng_uses_the_module_random() -> None:
    policy = RetryPolicy()
    for _ in range(50):
        delay = policy.next_delay(3)
        assert timedelta(seconds=3.2) <= delay <= timedelta(seconds=4)


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        ({"backoff_coefficient": 0.5}, "backoff_coefficient"),
        ({"maximum_attempts": -1}, "maximum_attempts"),
        ({"initial_interval": timedelta(0)}, "initial_interval"),
        ({"initial_interval": timedelta(seconds=-1)}, "initial_interval"),
        (
            {"initial_interval": timedelta(seconds=5), "maximum_interval": timedelta(seconds=4)},
            "maximum_interval",
        ),
    ],
)
def test_bad_values_are_refused(fields: dict[str, object], needle: str) -> None:
    with pytest.raises(ValidationError, match=needle):
        RetryPolicy.model_validate(fields)


def test_maximum_interval_equal_to_initial_is_allowed() -> None:
    policy = RetryPolicy(
        initial_interval=timedelta(seconds=5), maximum_interval=timedelta(seconds=5)
    )
    assert policy.backoff(10) == timedelta(seconds=5)


def test_policy_is_frozen() -> None:
    with pytest.raises(ValidationError, match="frozen"):
        RetryPolicy().maximum_attempts = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("maximum_attempts", "attempt", "exhausted"),
    [
        (0, 1, False),
        (0, 10_000, False),
        (1, 1, True),
        (3, 1, False),
        (3, 2, False),
        (3, 3, True),
        (3, 4, True),
    ],
)
def test_attempts_exhausted(maximum_attempts: int, attempt: int, exhausted: bool) -> None:
    policy = RetryPolicy(maximum_attempts=maximum_attempts)
    assert policy.attempts_exhausted(attempt) is exhausted


def test_is_retryable_by_default() -> None:
    policy = RetryPolicy()
    assert policy.is_retryable("ValueError")
    assert policy.is_retryable(None)


def test_non_retryable_error_types_are_not_retried() -> None:
    policy = RetryPolicy(non_retryable_error_types=["CardDeclined", "ValueError"])
    assert not policy.is_retryable("CardDeclined")
    assert not policy.is_retryable("ValueError")
    assert policy.is_retryable("TimeoutError")
    assert policy.is_retryable(None)


def test_error_type_match_is_exact() -> None:
    policy = RetryPolicy(non_retryable_error_types=["CardDeclined"])
    assert policy.is_retryable("carddeclined")
    assert policy.is_retryable("CardDeclinedSoft")


def test_non_retryable_flag_wins() -> None:
    assert not RetryPolicy().is_retryable("Anything", non_retryable=True)
    assert not RetryPolicy().is_retryable(None, non_retryable=True)


def test_policy_round_trips_through_json() -> None:
    policy = RetryPolicy(
        initial_interval=timedelta(milliseconds=500),
        backoff_coefficient=1.5,
        maximum_interval=timedelta(minutes=2),
        maximum_attempts=7,
        non_retryable_error_types=["CardDeclined"],
    )
    again = RetryPolicy.model_validate_json(policy.model_dump_json())
    assert again.initial_interval == policy.initial_interval
    assert again.backoff_coefficient == policy.backoff_coefficient
    assert again.maximum_interval == policy.maximum_interval
    assert again.maximum_attempts == policy.maximum_attempts
    assert list(again.non_retryable_error_types or ()) == ["CardDeclined"]
