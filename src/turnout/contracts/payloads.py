"""Values left unconverted, and the converter that converts them when the code asks.

A dynamic workflow, handler or activity takes its arguments as a sequence of
:class:`RawValue`: it learns their types only once it knows the name it was called by,
then converts each with ``workflow.payload_converter()`` (``activity.payload_converter()``
in an activity). On the internal executor a RawValue's ``payload`` is the stored JSON
value; on Temporal the handler receives temporalio's own RawValue, whose ``payload`` is a
Temporal payload, and the converter is temporalio's. Code that only hands the payload to
the converter therefore runs unchanged on every executor.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["RAW_ARGUMENTS", "PayloadConverter", "RawArguments", "RawValue"]


@dataclass(frozen=True)
class RawValue:
    """A value as it was stored, not converted to any type (temporalio's ``RawValue``).

    As a parameter or return type it passes the value through untouched.
    """

    payload: Any
    """The stored JSON value (on Temporal: temporalio's RawValue and its payload)."""


class RawArguments(tuple[Any, ...]):
    """The argument types of a dynamic workflow or activity: whatever arguments it was
    started with arrive unconverted, together, as its one argument (a list of
    :class:`RawValue`). Decoders recognise it; it holds no types."""


RAW_ARGUMENTS = RawArguments()
"""The argument types of every dynamic workflow and activity."""


class PayloadConverter(Protocol):
    """What ``workflow.payload_converter()`` and ``activity.payload_converter()`` return."""

    def to_payload(self, value: Any) -> Any:
        """``value`` as a payload."""
        ...

    def to_payloads(self, values: Sequence[Any]) -> list[Any]:
        """Each of ``values`` as a payload."""
        ...

    def from_payload(self, payload: Any, type_hint: type | None = None) -> Any:
        """``payload`` converted into ``type_hint`` (left as it is without one)."""
        ...

    def from_payloads(
        self, payloads: Sequence[Any], type_hints: list[type] | None = None
    ) -> list[Any]:
        """Each of ``payloads`` converted into the type hint at its position."""
        ...
