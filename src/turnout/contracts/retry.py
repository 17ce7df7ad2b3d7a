"""RetryPolicy: Temporal's field names and defaults, and the backoff arithmetic."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from turnout.contracts.limits import (
    MAX_DURATION,
    InvalidInputError,
    check_duration,
    check_finite,
    one_line,
)

__all__ = ["RetryPolicy"]

_JITTER = 0.2


class RetryPolicy(BaseModel):
    """How a failed activity (or workflow) is retried.

    The fields and defaults are Temporal's: the first retry waits
    ``initial_interval``, each next one ``backoff_coefficient`` times longer, never
    more than ``maximum_interval`` (default: 100 x ``initial_interval``);
    ``maximum_attempts`` counts the first attempt, 0 means unlimited; an error
    whose type name is in ``non_retryable_error_types`` is not retried.

    On the internal executor each delay is shortened by up to 20 % at random
    (jitter), so that many items failing together do not retry in lockstep.

    Refused with an ``InvalidInputError`` (a ``ValueError``): an unknown field (a
    typo such as ``maximum_attempt``), a NaN or infinite coefficient, an interval
    that is not positive or is longer than ``MAX_DURATION`` (100 years).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    initial_interval: timedelta = timedelta(seconds=1)
    backoff_coefficient: float = 2.0
    maximum_interval: timedelta | None = None
    maximum_attempts: int = 0
    non_retryable_error_types: Sequence[str] | None = None

    if not TYPE_CHECKING:  # type checkers see the fields as keyword arguments

        def __init__(self, **data: Any) -> None:
            try:
                super().__init__(**data)
            except ValidationError as exc:
                raise InvalidInputError(one_line(exc)) from None

    @field_validator("backoff_coefficient")
    @classmethod
    def _coefficient_at_least_one(cls, value: float) -> float:
        check_finite(value, "backoff_coefficient")
        if value < 1.0:
            raise ValueError("backoff_coefficient must be >= 1.0")
        return value

    @field_validator("initial_interval", "maximum_interval")
    @classmethod
    def _interval_in_range(cls, value: timedelta | None, info: Any) -> timedelta | None:
        unset = "leave it unset for the default"
        return None if value is None else check_duration(value, info.field_name, unset=unset)

    @field_validator("maximum_attempts")
    @classmethod
    def _attempts_not_negative(cls, value: int) -> int:
        if value < 0:
            raise ValueError("maximum_attempts must be >= 0 (0 means unlimited)")
        return value

    @model_validator(mode="after")
    def _intervals_consistent(self) -> RetryPolicy:
        if self.maximum_interval is not None and self.maximum_interval < self.initial_interval:
            raise ValueError("maximum_interval must be >= initial_interval")
        return self

    @property
    def effective_maximum_interval(self) -> timedelta:
        """``maximum_interval``, or 100 x ``initial_interval`` when unset (at most
        ``MAX_DURATION``)."""
        return min(self.maximum_interval or self.initial_interval * 100, MAX_DURATION)

    def attempts_exhausted(self, attempt: int) -> bool:
        """True when ``attempt`` (1-based, just failed) was the last one allowed."""
        return self.maximum_attempts > 0 and attempt >= self.maximum_attempts

    def is_retryable(self, error_type: str | None, *, non_retryable: bool = False) -> bool:
        """True unless the error is flagged non-retryable or its type is listed."""
        if non_retryable:
            return False
        return not (error_type and error_type in (self.non_retryable_error_types or ()))

    def backoff(self, attempt: int) -> timedelta:
        """The delay before the retry that follows failed ``attempt`` (1-based), no jitter."""
        cap = self.effective_maximum_interval.total_seconds()
        try:
            seconds = self.initial_interval.total_seconds() * self.backoff_coefficient ** (
                attempt - 1
            )
        except OverflowError:  # very late attempts: the cap applies long before
            seconds = cap
        return timedelta(seconds=min(seconds, cap))

    def next_delay(self, attempt: int, rng: random.Random | None = None) -> timedelta:
        """The jittered delay before the retry that follows failed ``attempt``."""
        base = self.backoff(attempt)
        factor = 1.0 - _JITTER * (rng or random).random()
        return base * factor
