"""A run's memo: the checks of a memo given to a start or an upsert, its upsert, and the
lookup of one value converted to a type hint.

A memo is a mapping of names to JSON values kept with the run, shown by ``describe()``
and read by the workflow (``workflow.memo()``), not searchable. Both executors check
memos here, so they refuse the same ones the same way. Keys starting with
:data:`RESERVED_PREFIX` are turnout's own (Temporal's executor keeps its bookkeeping in
the memo under such keys) and are refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import pydantic_core
from pydantic import TypeAdapter, ValidationError

from turnout.contracts.limits import InvalidInputError, check_name, check_payload, one_line

__all__ = [
    "NO_DEFAULT",
    "RESERVED_PREFIX",
    "check_memo",
    "check_memo_updates",
    "memo_value",
    "upserted",
    "user_memo",
]

RESERVED_PREFIX = "turnout_"
"""Memo keys turnout keeps for itself (refused in a user's memo, hidden from it)."""


class _NoDefault:
    def __repr__(self) -> str:
        return "NO_DEFAULT"


NO_DEFAULT: Any = _NoDefault()
"""Marks "no default given" to :func:`memo_value` (None is a valid default)."""


@lru_cache(maxsize=256)
def _adapter(type_hint: Any) -> TypeAdapter[Any]:
    return TypeAdapter(type_hint)


def _checked(memo: Any, what: str, *, deletes: bool) -> dict[str, Any]:
    if not isinstance(memo, Mapping):
        raise InvalidInputError(
            f"{what} is {type(memo).__name__}; pass a dict of names to values, "
            'e.g. {"customer": "acme"}'
        )
    out: dict[str, Any] = {}
    for key, value in memo.items():
        if not isinstance(key, str):
            raise InvalidInputError(f"{what} has the key {key!r}; memo keys are strings")
        check_name(key, f"a key of {what}", example="customer")
        if key.startswith(RESERVED_PREFIX):
            raise InvalidInputError(
                f"{what} has the key {key!r}; keys starting with {RESERVED_PREFIX!r} are "
                "turnout's own: rename it"
            )
        if value is None and deletes:
            out[key] = None
            continue
        try:
            out[key] = pydantic_core.to_jsonable_python(value)
        except pydantic_core.PydanticSerializationError as exc:
            raise InvalidInputError(
                f"the value of {key!r} in {what} cannot be converted to JSON ({exc}); "
                "give a JSON value, a dataclass or a pydantic model"
            ) from None
    check_payload(out, what)
    return out


def check_memo(memo: Mapping[str, Any] | None, what: str = "the memo") -> dict[str, Any]:
    """``memo`` as JSON values (empty for None), refused (InvalidInputError) when a key
    is not a name, is reserved, or a value cannot be stored."""
    if memo is None:
        return {}
    return _checked(memo, what, deletes=False)


def check_memo_updates(updates: Mapping[str, Any]) -> dict[str, Any]:
    """The updates of ``workflow.upsert_memo`` as JSON values (None: delete the key),
    refused as :func:`check_memo` refuses a memo."""
    return _checked(updates, "the memo updates", deletes=True)


def upserted(memo: Mapping[str, Any], updates: Mapping[str, Any]) -> dict[str, Any]:
    """``memo`` with ``updates`` applied: each key set to its value, or removed for None."""
    out = dict(memo)
    for key, value in updates.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def user_memo(memo: Mapping[str, Any]) -> dict[str, Any]:
    """``memo`` without turnout's own keys."""
    return {k: v for k, v in memo.items() if not k.startswith(RESERVED_PREFIX)}


def memo_value(
    memo: Mapping[str, Any], key: str, default: Any = NO_DEFAULT, type_hint: Any = None
) -> Any:
    """The value of ``key`` in ``memo``, converted to ``type_hint`` when one is given;
    ``default`` when the key is missing (KeyError without a default)."""
    if key not in memo:
        if default is NO_DEFAULT:
            raise KeyError(f"memo does not have the key {key!r}")
        return default
    value = memo[key]
    if type_hint is None:
        return value
    try:
        return _adapter(type_hint).validate_python(value)
    except ValidationError as exc:
        raise TypeError(f"memo value {key!r} is not a {type_hint}: {one_line(exc)}") from None
