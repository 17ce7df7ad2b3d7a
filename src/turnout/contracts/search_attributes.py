"""Search attributes: typed, indexed values kept with a run that ``list_workflows(query)``
and ``count_workflows(query)`` search by (temporalio's names and semantics).

A key is made by one of :class:`SearchAttributeKey`'s ``for_*`` constructors, which
fix its name and its type (Temporal's seven: Text, Keyword, Int, Double, Bool,
Datetime, KeywordList). :class:`TypedSearchAttributes` holds a run's pairs, and a
workflow changes them with ``workflow.upsert_search_attributes`` and each key's
``value_set`` / ``value_unset``.

Both executors store and compare them in one form: each name maps to
``{"type": "Keyword", "value": ...}``, its value JSON (a datetime as ISO 8601 text
in UTC). Both check them here, so they refuse the same values the same way.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import IntEnum
from typing import Any, ClassVar, Generic, NamedTuple, TypeAlias, TypeVar

from turnout.contracts.limits import InvalidInputError, check_finite, check_text

__all__ = [
    "BUILTIN_FIELDS",
    "MAX_KEYWORD_LENGTH",
    "SearchAttributeIndexedValueType",
    "SearchAttributeKey",
    "SearchAttributePair",
    "SearchAttributeUpdate",
    "SearchAttributeValues",
    "SearchAttributes",
    "TypedSearchAttributes",
    "check_search_attribute_updates",
    "check_search_attributes",
    "stored_value",
    "typed_from_stored",
    "untyped_from_stored",
    "upserted_attributes",
]

SearchAttributeValues: TypeAlias = list[str] | list[int] | list[float] | list[bool] | list[datetime]
"""The values of one untyped search attribute (temporalio's deprecated form)."""

SearchAttributes: TypeAlias = Mapping[str, SearchAttributeValues]
"""Untyped search attributes: each name to a list of values (temporalio's deprecated
form; :class:`TypedSearchAttributes` is the one to use)."""

V = TypeVar("V", str, int, float, bool, datetime, Sequence[str])

MAX_KEYWORD_LENGTH = 255
"""The longest Keyword (or KeywordList element) value: Temporal's SQL visibility
stores keywords in columns this wide."""

BUILTIN_FIELDS = (
    "WorkflowId",
    "RunId",
    "WorkflowType",
    "TaskQueue",
    "ExecutionStatus",
    "StartTime",
    "ExecutionTime",
    "CloseTime",
)
"""The fields every run has; no search attribute may take one of these names."""

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class SearchAttributeIndexedValueType(IntEnum):
    """How a search attribute is indexed (Temporal's numbering)."""

    TEXT = 1
    KEYWORD = 2
    INT = 3
    DOUBLE = 4
    BOOL = 5
    DATETIME = 6
    KEYWORD_LIST = 7

    @property
    def type_name(self) -> str:
        """The type's name in Temporal's CLI and payload metadata (``KeywordList``)."""
        return _TYPE_NAMES[self]

    @classmethod
    def named(cls, name: str) -> SearchAttributeIndexedValueType:
        """The type called ``name`` (``Keyword``, ``Int``, ...; Temporal's spelling)."""
        for member, spelled in _TYPE_NAMES.items():
            if spelled.lower() == name.lower():
                return member
        raise InvalidInputError(
            f"{name!r} is not a search attribute type; use one of "
            + ", ".join(_TYPE_NAMES.values())
        )


_TYPE_NAMES = {
    SearchAttributeIndexedValueType.TEXT: "Text",
    SearchAttributeIndexedValueType.KEYWORD: "Keyword",
    SearchAttributeIndexedValueType.INT: "Int",
    SearchAttributeIndexedValueType.DOUBLE: "Double",
    SearchAttributeIndexedValueType.BOOL: "Bool",
    SearchAttributeIndexedValueType.DATETIME: "Datetime",
    SearchAttributeIndexedValueType.KEYWORD_LIST: "KeywordList",
}

_PYTHON_TYPES: dict[SearchAttributeIndexedValueType, Any] = {
    SearchAttributeIndexedValueType.TEXT: str,
    SearchAttributeIndexedValueType.KEYWORD: str,
    SearchAttributeIndexedValueType.INT: int,
    SearchAttributeIndexedValueType.DOUBLE: float,
    SearchAttributeIndexedValueType.BOOL: bool,
    SearchAttributeIndexedValueType.DATETIME: datetime,
    SearchAttributeIndexedValueType.KEYWORD_LIST: Sequence[str],
}


@dataclass(frozen=True)
class SearchAttributeKey(Generic[V]):
    """A search attribute's name and type; make one with a ``for_*`` constructor.

    Two keys are equal when both their name and their type are.
    """

    name: str
    indexed_value_type: SearchAttributeIndexedValueType

    @property
    def value_type(self) -> Any:
        """The Python type of the key's values (``Sequence[str]`` for a keyword list)."""
        return _PYTHON_TYPES[self.indexed_value_type]

    @property
    def origin_value_type(self) -> type:
        """The Python type of the key's values without generics."""
        return list if self.indexed_value_type is _KL else self.value_type

    def value_set(self, value: V) -> SearchAttributeUpdate[V]:
        """The update that sets this key to ``value``."""
        return SearchAttributeUpdate(self, value)

    def value_unset(self) -> SearchAttributeUpdate[V]:
        """The update that removes this key from the run."""
        return SearchAttributeUpdate(self, None)

    @staticmethod
    def for_text(name: str) -> SearchAttributeKey[str]:
        """A Text key: free text, matched by the words it contains."""
        return SearchAttributeKey(name, SearchAttributeIndexedValueType.TEXT)

    @staticmethod
    def for_keyword(name: str) -> SearchAttributeKey[str]:
        """A Keyword key: an exact string (an id, a status, a customer)."""
        return SearchAttributeKey(name, SearchAttributeIndexedValueType.KEYWORD)

    @staticmethod
    def for_int(name: str) -> SearchAttributeKey[int]:
        """An Int key: a 64-bit integer."""
        return SearchAttributeKey(name, SearchAttributeIndexedValueType.INT)

    @staticmethod
    def for_float(name: str) -> SearchAttributeKey[float]:
        """A Double key: a floating-point number."""
        return SearchAttributeKey(name, SearchAttributeIndexedValueType.DOUBLE)

    @staticmethod
    def for_bool(name: str) -> SearchAttributeKey[bool]:
        """A Bool key."""
        return SearchAttributeKey(name, SearchAttributeIndexedValueType.BOOL)

    @staticmethod
    def for_datetime(name: str) -> SearchAttributeKey[datetime]:
        """A Datetime key: a moment (a naive datetime is taken as UTC)."""
        return SearchAttributeKey(name, SearchAttributeIndexedValueType.DATETIME)

    @staticmethod
    def for_keyword_list(name: str) -> SearchAttributeKey[Sequence[str]]:
        """A KeywordList key: a list of exact strings; ``=`` matches any of them."""
        return SearchAttributeKey(name, SearchAttributeIndexedValueType.KEYWORD_LIST)

    @staticmethod
    def of_type(name: str, type_name: str) -> SearchAttributeKey[Any]:
        """The key ``name`` of the type called ``type_name`` (``Keyword``, ``Int``...)."""
        return SearchAttributeKey(name, SearchAttributeIndexedValueType.named(type_name))


_KL = SearchAttributeIndexedValueType.KEYWORD_LIST


class SearchAttributePair(NamedTuple, Generic[V]):
    """One key and its value."""

    key: SearchAttributeKey[V]
    value: V


@dataclass(frozen=True)
class SearchAttributeUpdate(Generic[V]):
    """A change of one key: set to ``value``, or removed when ``value`` is None."""

    key: SearchAttributeKey[V]
    value: V | None


@dataclass(frozen=True)
class TypedSearchAttributes(Collection[SearchAttributePair[Any]]):
    """A run's search attributes: pairs of a key and its value, at most one per name,
    kept sorted by name. Immutable: :meth:`updated` gives a changed copy."""

    search_attributes: Sequence[SearchAttributePair[Any]]

    empty: ClassVar[TypedSearchAttributes]
    """No search attributes."""

    def __post_init__(self) -> None:
        pairs = sorted(self.search_attributes, key=lambda pair: pair.key.name)
        for before, after in itertools.pairwise(pairs):
            if before.key.name == after.key.name:
                raise ValueError(f"search attribute {after.key.name!r} is given twice")
        object.__setattr__(self, "search_attributes", pairs)

    def __len__(self) -> int:
        return len(self.search_attributes)

    def __iter__(self) -> Iterator[SearchAttributePair[Any]]:
        return iter(self.search_attributes)

    def __contains__(self, key: object) -> bool:
        """True when a pair has this key (the same name and type)."""
        return any(pair.key == key for pair in self.search_attributes)

    def __getitem__(self, key: SearchAttributeKey[V]) -> V:
        """The value of ``key`` (KeyError when the run has none of that name and type)."""
        for pair in self.search_attributes:
            if pair.key == key:
                return pair.value  # type: ignore[no-any-return]
        raise KeyError(key.name)

    def get(self, key: SearchAttributeKey[V], default: Any = None) -> Any:
        """The value of ``key``, or ``default``."""
        try:
            return self[key]
        except KeyError:
            return default

    def updated(self, *pairs: SearchAttributePair[Any]) -> TypedSearchAttributes:
        """A copy with each of ``pairs`` set (replacing a pair of the same name)."""
        names = {pair.key.name for pair in pairs}
        kept = [pair for pair in self.search_attributes if pair.key.name not in names]
        return TypedSearchAttributes([*kept, *pairs])


TypedSearchAttributes.empty = TypedSearchAttributes([])


def _check_key_name(name: Any, what: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name) or len(name) > MAX_KEYWORD_LENGTH:
        raise InvalidInputError(
            f"{what} has the search attribute name {name!r}; a name is letters, digits and "
            "underscores, starting with a letter, e.g. CustomerId"
        )
    if name.startswith("Temporal"):
        raise InvalidInputError(
            f"{what} sets {name!r}; names starting with 'Temporal' are the server's own: "
            "give the search attribute another name"
        )
    if name in BUILTIN_FIELDS:
        raise InvalidInputError(
            f"{what} sets {name!r}, a field every run has; give the search attribute another name"
        )
    return name


def stored_value(key: SearchAttributeKey[Any], value: Any, what: str) -> Any:
    """``value`` of ``key`` in the stored form (JSON), refused (InvalidInputError) when
    it is not of the key's type."""
    kind = key.indexed_value_type
    label = f"the value of search attribute {key.name!r} in {what}"
    wanted = f"{kind.type_name} search attribute"
    if kind in (SearchAttributeIndexedValueType.TEXT, SearchAttributeIndexedValueType.KEYWORD):
        if not isinstance(value, str):
            raise InvalidInputError(f"{label} is {type(value).__name__}; a {wanted} takes a str")
        return (
            _keyword(value, label)
            if kind is SearchAttributeIndexedValueType.KEYWORD
            else (check_text(value, label))
        )
    if kind is SearchAttributeIndexedValueType.INT:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidInputError(f"{label} is {type(value).__name__}; a {wanted} takes an int")
        if not -(2**63) <= value < 2**63:
            raise InvalidInputError(f"{label} is {value}, outside the 64-bit integers")
        return value
    if kind is SearchAttributeIndexedValueType.DOUBLE:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidInputError(f"{label} is {type(value).__name__}; a {wanted} takes a float")
        return check_finite(float(value), label)
    if kind is SearchAttributeIndexedValueType.BOOL:
        if not isinstance(value, bool):
            raise InvalidInputError(f"{label} is {type(value).__name__}; a {wanted} takes a bool")
        return value
    if kind is SearchAttributeIndexedValueType.DATETIME:
        if not isinstance(value, datetime):
            raise InvalidInputError(
                f"{label} is {type(value).__name__}; a {wanted} takes a datetime"
            )
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC).isoformat()
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise InvalidInputError(
            f"{label} is {type(value).__name__}; a {wanted} takes a list of str"
        )
    return [_keyword(item, label) for item in value]


def _keyword(value: Any, label: str) -> str:
    if not isinstance(value, str):
        raise InvalidInputError(f"{label} holds {type(value).__name__}; keywords are str")
    check_text(value, label)
    if len(value) > MAX_KEYWORD_LENGTH:
        raise InvalidInputError(
            f"{label} is {len(value)} characters; a keyword is at most {MAX_KEYWORD_LENGTH} "
            "(use a Text search attribute for longer text)"
        )
    return value


def _guessed_key(name: str, values: Any, what: str) -> SearchAttributeKey[Any]:
    """The key of an untyped attribute, from its values (as temporalio guesses it)."""
    if not isinstance(values, list) or not values:
        raise InvalidInputError(
            f"{what} gives {name!r} as {values!r}; untyped search attributes are lists of "
            "values; better, use TypedSearchAttributes with SearchAttributeKey.for_keyword(...)"
        )
    first = values[0]
    if isinstance(first, str):
        return (
            SearchAttributeKey.for_keyword_list(name)
            if len(values) > 1
            else SearchAttributeKey.for_keyword(name)
        )
    kinds: list[tuple[type, SearchAttributeKey[Any]]] = [
        (bool, SearchAttributeKey.for_bool(name)),
        (int, SearchAttributeKey.for_int(name)),
        (float, SearchAttributeKey.for_float(name)),
        (datetime, SearchAttributeKey.for_datetime(name)),
    ]
    for python_type, key in kinds:
        if isinstance(first, python_type):
            return key
    raise InvalidInputError(f"{what} gives {name!r} a {type(first).__name__}, not a search value")


def _untyped_value(key: SearchAttributeKey[Any], values: list[Any]) -> Any:
    return values if key.indexed_value_type is _KL else values[0]


def check_search_attributes(attributes: Any, what: str = "the search attributes") -> dict[str, Any]:
    """``attributes`` (TypedSearchAttributes, or temporalio's untyped mapping of names to
    lists) in the stored form, empty for None; refused when a name or value is not
    one a search attribute can hold."""
    if attributes is None:
        return {}
    stored: dict[str, Any] = {}
    if isinstance(attributes, TypedSearchAttributes):
        for pair in attributes:
            if not isinstance(pair.key, SearchAttributeKey):
                raise InvalidInputError(
                    f"{what} has the key {pair.key!r}; make keys with "
                    "SearchAttributeKey.for_keyword(...) and the other for_* constructors"
                )
            name = _check_key_name(pair.key.name, what)
            stored[name] = {
                "type": pair.key.indexed_value_type.type_name,
                "value": stored_value(pair.key, pair.value, what),
            }
        return stored
    if isinstance(attributes, Mapping):
        for name, values in attributes.items():
            _check_key_name(name, what)
            key = _guessed_key(name, values, what)
            value = stored_value(key, _untyped_value(key, values), what)
            stored[name] = {"type": key.indexed_value_type.type_name, "value": value}
        return stored
    raise InvalidInputError(
        f"{what} is {type(attributes).__name__}; pass TypedSearchAttributes([SearchAttributePair"
        "(SearchAttributeKey.for_keyword('CustomerId'), 'acme')])"
    )


def check_search_attribute_updates(updates: Any) -> dict[str, Any]:
    """The updates of ``workflow.upsert_search_attributes`` in the stored form (None
    removes the name): TypedSearchAttributes (each pair set), a sequence of
    :class:`SearchAttributeUpdate`, or temporalio's untyped mapping (an empty list
    removes the name)."""
    what = "the search attribute updates"
    if isinstance(updates, TypedSearchAttributes):
        return check_search_attributes(updates, what)
    if isinstance(updates, Mapping):
        removed = {name: None for name, values in updates.items() if values == []}
        kept = {name: values for name, values in updates.items() if values != []}
        for name in removed:
            _check_key_name(name, what)
        return {**check_search_attributes(kept, what), **removed}
    if isinstance(updates, Sequence) and not isinstance(updates, str):
        out: dict[str, Any] = {}
        for update in updates:
            if not isinstance(update, SearchAttributeUpdate):
                raise InvalidInputError(
                    f"{what} hold {type(update).__name__}; give key.value_set(value) or "
                    "key.value_unset() for each key"
                )
            name = _check_key_name(update.key.name, what)
            out[name] = (
                None
                if update.value is None
                else {
                    "type": update.key.indexed_value_type.type_name,
                    "value": stored_value(update.key, update.value, what),
                }
            )
        return out
    raise InvalidInputError(
        f"{what} are {type(updates).__name__}; pass a list of key.value_set(value) / "
        "key.value_unset(), or TypedSearchAttributes"
    )


def upserted_attributes(stored: Mapping[str, Any], updates: Mapping[str, Any]) -> dict[str, Any]:
    """``stored`` with ``updates`` applied (None removes a name)."""
    out = dict(stored)
    for name, entry in updates.items():
        if entry is None:
            out.pop(name, None)
        else:
            out[name] = entry
    return out


def _python_value(key: SearchAttributeKey[Any], value: Any) -> Any:
    if key.indexed_value_type is SearchAttributeIndexedValueType.DATETIME:
        return datetime.fromisoformat(value)
    if key.indexed_value_type is SearchAttributeIndexedValueType.DOUBLE:
        return float(value)
    if key.indexed_value_type is _KL:
        return list(value)
    return value


def typed_from_stored(stored: Mapping[str, Any] | None) -> TypedSearchAttributes:
    """The TypedSearchAttributes of the stored form."""
    pairs = []
    for name, entry in (stored or {}).items():
        key = SearchAttributeKey.of_type(name, entry["type"])
        pairs.append(SearchAttributePair(key, _python_value(key, entry["value"])))
    return TypedSearchAttributes(pairs)


def untyped_from_stored(stored: Mapping[str, Any] | None) -> dict[str, list[Any]]:
    """temporalio's untyped form of the stored form: each name to a list of values."""
    out: dict[str, list[Any]] = {}
    for pair in typed_from_stored(stored):
        out[pair.key.name] = (
            list(pair.value) if pair.key.indexed_value_type is _KL else [pair.value]
        )
    return out
