"""JSON payloads through pydantic type adapters built from type hints (never pickle)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from pydantic import TypeAdapter

from turnout.contracts.errors import PayloadTooLargeError

__all__ = [
    "DEFAULT_MAX_PAYLOAD_BYTES",
    "check_size",
    "decode",
    "decode_args",
    "encode",
    "encode_args",
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


def encode(value: Any) -> Any:
    """A JSON-compatible form of ``value`` (pydantic models and dataclasses become dicts)."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    tp: Any = type(value)
    return _adapter(_hashable(tp)).dump_python(value, mode="json")


def decode(data: Any, tp: Any) -> Any:
    """``data`` validated into ``tp`` (a model, dataclass, list[int], ... or Any)."""
    tp = _hashable(tp)
    if tp is Any or tp is None or tp is type(None):
        return data
    return _adapter(tp).validate_python(data)


def encode_args(args: Sequence[Any]) -> list[Any]:
    """Encode each argument."""
    return [encode(a) for a in args]


def decode_args(data: Sequence[Any], types: Sequence[Any]) -> list[Any]:
    """Decode each argument with the matching type (extra arguments stay as JSON)."""
    return [decode(d, types[i] if i < len(types) else Any) for i, d in enumerate(data)]


def check_size(value: Any, what: str, limit: int) -> None:
    """Raise PayloadTooLargeError when ``value`` (already JSON-compatible) exceeds ``limit``,
    and ValueError when it holds a float JSON cannot carry (NaN, infinity)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{what} is {value}, which JSON cannot carry; use None or a string")
    if isinstance(value, int | float | bool) or value is None:
        return
    if isinstance(value, str) and len(value) * 4 < limit:  # UTF-8: at most 4 bytes a char
        return
    try:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except ValueError:
        raise ValueError(
            f"{what} holds NaN or infinity, which JSON cannot carry; use None or a string"
        ) from None
    size = len(text.encode())
    if size > limit:
        raise PayloadTooLargeError(what, size, limit)
