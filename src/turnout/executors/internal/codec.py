"""JSON payloads through pydantic type adapters built from type hints (never pickle)."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from pydantic import TypeAdapter

from turnout.contracts import limits
from turnout.contracts.errors import DataConversionError, PayloadTooLargeError
from turnout.contracts.payloads import RawArguments, RawValue

__all__ = [
    "BYTES_KEY",
    "CONVERTER",
    "DEFAULT_MAX_PAYLOAD_BYTES",
    "JsonPayloadConverter",
    "check_header",
    "check_payload",
    "check_size",
    "decode",
    "decode_args",
    "encode",
    "encode_args",
    "encode_heartbeat",
]

DEFAULT_MAX_PAYLOAD_BYTES = 2 * 1024 * 1024
"""The default limit of one payload's JSON (as Temporal's default blob limit)."""


@lru_cache(maxsize=1024)
def _adapter(tp: Any) -> TypeAdapter[Any]:
    return TypeAdapter(tp)


def _hashable(tp: Any) -> Any:
    try:
        hash(tp)
    except TypeError:
        return Any
    return tp


BYTES_KEY = "__bytes__"
"""A payload that is ``bytes`` itself is stored as ``{"__bytes__": "<base64>"}``, so it comes
back as ``bytes`` whatever the type hint says (and any bytes, UTF-8 or not, fit), as
Temporal's binary payloads do. Bytes inside a model or a list are pydantic's, as there."""


def encode(value: Any) -> Any:
    """A JSON-compatible form of ``value`` (pydantic models and dataclasses become dicts)."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, RawValue):  # passed through as it was stored
        return value.payload
    if isinstance(value, bytes):
        return {BYTES_KEY: base64.b64encode(value).decode("ascii")}
    tp: Any = type(value)
    return _adapter(_hashable(tp)).dump_python(value, mode="json")


def decode(data: Any, tp: Any) -> Any:
    """``data`` validated into ``tp`` (a model, dataclass, list[int], ... or Any)."""
    if tp is RawValue:
        return RawValue(data)
    if isinstance(data, dict) and len(data) == 1 and isinstance(data.get(BYTES_KEY), str):
        data = base64.b64decode(data[BYTES_KEY])
    tp = _hashable(tp)
    if tp is Any or tp is None or tp is type(None):
        return data
    return _adapter(tp).validate_python(data)


def encode_args(args: Sequence[Any]) -> list[Any]:
    """Encode each argument."""
    return [encode(a) for a in args]


def decode_args(data: Sequence[Any], types: Sequence[Any]) -> list[Any]:
    """Decode each argument with the matching type (extra arguments stay as JSON). A
    dynamic definition's (``RawArguments``) takes them all, unconverted, as one list."""
    if isinstance(types, RawArguments):
        return [[RawValue(d) for d in data]]
    return [decode(d, types[i] if i < len(types) else Any) for i, d in enumerate(data)]


def encode_heartbeat(details: Sequence[Any], activity_type: str) -> list[Any]:
    """Encode a heartbeat's details, refused here, in the activity's code, like any bad
    value (never in the write)."""
    encoded = encode_args(details)
    check_payload(encoded, f"the heartbeat details of activity {activity_type}")
    return encoded


def check_payload(value: Any, what: str) -> str | None:
    """Refuse a JSON-compatible ``value`` the database cannot store (NaN, infinity, NUL or
    a lone surrogate in a string or key, nesting deeper than ``MAX_JSON_DEPTH``) with an
    ``InvalidInputError``; return its compact JSON text (None for a scalar)."""
    return limits.check_payload(value, what)


def check_size(value: Any, what: str, limit: int) -> None:
    """Raise PayloadTooLargeError when ``value`` (already JSON-compatible) exceeds ``limit``,
    and InvalidInputError (a ValueError) when :func:`check_payload` refuses it."""
    text = check_payload(value, what)
    if text is None:
        if not isinstance(value, str) or len(value) * 4 < limit:  # UTF-8: <= 4 bytes a char
            return
        text = json.dumps(value, ensure_ascii=False)
    size = len(text.encode())
    if size > limit:
        raise PayloadTooLargeError(what, size, limit)


class JsonPayloadConverter:
    """``workflow.payload_converter()`` and ``activity.payload_converter()`` on the internal
    executor: a payload is the stored JSON value, converted as every other value is."""

    def to_payload(self, value: Any) -> Any:
        """``value`` in its stored JSON form."""
        return encode(value)

    def to_payloads(self, values: Sequence[Any]) -> list[Any]:
        """Each of ``values`` in its stored JSON form."""
        return encode_args(values)

    def from_payload(self, payload: Any, type_hint: type | None = None) -> Any:
        """``payload`` (a RawValue's) validated into ``type_hint``; as it is without one."""
        return decode(payload, Any if type_hint is None else type_hint)

    def from_payloads(
        self, payloads: Sequence[Any], type_hints: list[type] | None = None
    ) -> list[Any]:
        """Each of ``payloads`` validated into the type hint at its position."""
        return decode_args(payloads, type_hints or ())


CONVERTER = JsonPayloadConverter()
"""The one converter the internal executor's runtimes hand out (it holds no state)."""


def check_header(headers: Mapping[str, Any] | None, limit: int) -> dict[str, Any]:
    """The interceptors' ``headers`` as stored: each name checked, each value a JSON
    payload (``turnout.converter.default().payload_converter.to_payload(value)``)."""
    if not headers:
        return {}
    if not isinstance(headers, Mapping):
        raise TypeError("headers must be a mapping of header names to payloads")
    stored: dict[str, Any] = {}
    for name, value in headers.items():
        if not isinstance(name, str):
            raise TypeError(f"header name {name!r} is not a string")
        limits.check_name(name, "a header name", example="user-id")
        try:
            stored[name] = encode(value)
        except ValueError as exc:
            raise DataConversionError(
                f"header {name!r} (make it with turnout.converter.default()"
                ".payload_converter.to_payload)",
                exc,
            ) from None
    check_size(stored, "the headers", limit)
    return stored
