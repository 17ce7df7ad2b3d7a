"""The payload converter client code uses: ``turnout.converter.default()``.

A payload on the internal executor is the JSON value; a header made with this converter
travels as that JSON value there, and becomes a Temporal payload on Temporal. Inside
workflows and activities, ``workflow.payload_converter()`` and
``activity.payload_converter()`` give the running executor's own converter.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter
from pydantic_core import to_jsonable_python

from turnout.contracts.payloads import PayloadConverter

__all__ = ["DataConverter", "JsonValueConverter", "default"]


class JsonValueConverter:
    """Values to JSON values and back, validated into the type asked for. It also reads a
    Temporal payload of JSON (``json/plain``), so client code reads headers on either
    executor."""

    def to_payload(self, value: Any) -> Any:
        """``value`` as a JSON value."""
        return to_jsonable_python(value)

    def to_payloads(self, values: Sequence[Any]) -> list[Any]:
        """Each of ``values`` as a JSON value."""
        return [self.to_payload(v) for v in values]

    def from_payload(self, payload: Any, type_hint: type | None = None) -> Any:
        """``payload`` validated into ``type_hint`` (as it is without one)."""
        if hasattr(payload, "metadata") and hasattr(payload, "data"):  # a Temporal payload
            payload = json.loads(payload.data) if payload.data else None
        return payload if type_hint is None else TypeAdapter(type_hint).validate_python(payload)

    def from_payloads(
        self, payloads: Sequence[Any], type_hints: list[type] | None = None
    ) -> list[Any]:
        """Each of ``payloads`` validated into the type hint at its position."""
        hints = list(type_hints or [])
        return [
            self.from_payload(p, hints[i] if i < len(hints) else None)
            for i, p in enumerate(payloads)
        ]


@dataclass(frozen=True)
class DataConverter:
    """What ``default()`` returns: turnout converts values with pydantic from the type
    hints, so only its payload converter is there to use."""

    payload_converter: PayloadConverter


_DEFAULT = DataConverter(payload_converter=JsonValueConverter())


def default() -> DataConverter:
    """The converter client code makes header payloads with (temporalio's
    ``converter.default()``)."""
    return _DEFAULT
