"""Search attributes on Temporal: turnout's stored form to temporalio's typed keys and
back, and the values a history event's payloads carry.

Temporal's server adds attributes of its own to a run (``BuildIds``, and ones named
``Temporal...``); they are left out of what a run shows, as the internal executor has
none of them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import temporalio.common as tc
import temporalio.service
from temporalio.api.common.v1 import Payload
from temporalio.api.history.v1 import HistoryEvent, WorkflowExecutionStartedEventAttributes

from turnout.contracts.limits import InvalidInputError
from turnout.contracts.search_attributes import (
    SearchAttributeIndexedValueType,
    SearchAttributeKey,
    stored_value,
)

__all__ = [
    "from_payloads",
    "from_temporal",
    "refused_search_attributes",
    "started_search_attributes",
    "typed_to_temporal",
    "updates_to_temporal",
    "upserted_search_attributes",
]

_SERVER_OWN = frozenset({"BuildIds", "BinaryChecksums"})


def _server_own(name: str) -> bool:
    return name in _SERVER_OWN or name.startswith("Temporal")


_KEYS: dict[SearchAttributeIndexedValueType, Any] = {
    SearchAttributeIndexedValueType.TEXT: tc.SearchAttributeKey.for_text,
    SearchAttributeIndexedValueType.KEYWORD: tc.SearchAttributeKey.for_keyword,
    SearchAttributeIndexedValueType.INT: tc.SearchAttributeKey.for_int,
    SearchAttributeIndexedValueType.DOUBLE: tc.SearchAttributeKey.for_float,
    SearchAttributeIndexedValueType.BOOL: tc.SearchAttributeKey.for_bool,
    SearchAttributeIndexedValueType.DATETIME: tc.SearchAttributeKey.for_datetime,
    SearchAttributeIndexedValueType.KEYWORD_LIST: tc.SearchAttributeKey.for_keyword_list,
}


def _temporal_key(name: str, type_name: str) -> tc.SearchAttributeKey[Any]:
    return _KEYS[SearchAttributeIndexedValueType.named(type_name)](name)  # type: ignore[no-any-return]


def _python(type_name: str, value: Any) -> Any:
    if type_name == "Datetime":
        return datetime.fromisoformat(value)
    return value


def typed_to_temporal(stored: Mapping[str, Any]) -> tc.TypedSearchAttributes | None:
    """temporalio's TypedSearchAttributes of the stored form (None when empty)."""
    if not stored:
        return None
    return tc.TypedSearchAttributes(
        [
            tc.SearchAttributePair(_temporal_key(name, e["type"]), _python(e["type"], e["value"]))
            for name, e in stored.items()
        ]
    )


def updates_to_temporal(updates: Mapping[str, Any]) -> list[tc.SearchAttributeUpdate[Any]]:
    """temporalio's updates of the stored form's updates (None unsets a name).

    An unset names no type; temporalio wants a key all the same, and the server ignores
    its type for an unset, so a keyword key is given."""
    out: list[tc.SearchAttributeUpdate[Any]] = []
    for name, entry in updates.items():
        if entry is None:
            out.append(tc.SearchAttributeKey.for_keyword(name).value_unset())
        else:
            key = _temporal_key(name, entry["type"])
            out.append(key.value_set(_python(entry["type"], entry["value"])))
    return out


def from_temporal(typed: tc.TypedSearchAttributes | None) -> dict[str, Any]:
    """The stored form of temporalio's TypedSearchAttributes, without the server's own."""
    stored: dict[str, Any] = {}
    for pair in typed or ():
        name = pair.key.name
        if _server_own(name):
            continue
        kind = SearchAttributeIndexedValueType(int(pair.key.indexed_value_type))
        key = SearchAttributeKey(name, kind)
        stored[name] = {
            "type": key.indexed_value_type.type_name,
            "value": stored_value(key, pair.value, "Temporal's search attributes"),
        }
    return stored


def from_payloads(fields: Mapping[str, Payload]) -> dict[str, Any]:
    """The stored form of a history event's indexed fields (each payload JSON, its type
    in the ``type`` metadata); an empty payload is an unset (None)."""
    stored: dict[str, Any] = {}
    for name, payload in fields.items():
        if _server_own(name):
            continue
        type_name = payload.metadata.get("type", b"").decode() or None
        try:
            value = json.loads(payload.data) if payload.data else None
        except ValueError:
            value = None
        if value is None or (value == [] and type_name != "KeywordList"):
            stored[name] = None
            continue
        if type_name is None:
            type_name = "KeywordList" if isinstance(value, list) else "Keyword"
        key = SearchAttributeKey.of_type(name, _metadata_name(type_name))
        if key.indexed_value_type is SearchAttributeIndexedValueType.DATETIME:
            value = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        if key.indexed_value_type is not SearchAttributeIndexedValueType.KEYWORD_LIST and (
            isinstance(value, list)
        ):
            value = value[0] if value else None
        stored[name] = {
            "type": key.indexed_value_type.type_name,
            "value": stored_value(key, value, "Temporal's history"),
        }
    return stored


def _metadata_name(type_name: str) -> str:
    """Temporal's type name of a payload's metadata (``INDEXED_VALUE_TYPE_INT`` or ``Int``)."""
    prefix = "INDEXED_VALUE_TYPE_"
    if not type_name.startswith(prefix):
        return type_name
    return "".join(part.title() for part in type_name[len(prefix) :].split("_"))


def started_search_attributes(
    started: WorkflowExecutionStartedEventAttributes,
) -> dict[str, Any]:
    """The ``search_attributes`` attribute of a mapped ``workflow_started`` (nothing
    when the run started with none of the user's)."""
    stored = from_payloads(started.search_attributes.indexed_fields)
    return {"search_attributes": stored} if stored else {}


def upserted_search_attributes(event: HistoryEvent) -> dict[str, Any]:
    """The attributes of a mapped ``upsert_workflow_search_attributes`` (empty when the
    upsert changed only the server's own attributes)."""
    attrs = event.upsert_workflow_search_attributes_event_attributes
    stored = from_payloads(attrs.search_attributes.indexed_fields)
    return {"search_attributes": stored} if stored else {}


def refused_search_attributes(exc: temporalio.service.RPCError) -> Exception:
    """A start the server refused for its search attributes (a name not registered, or a
    value of another type) as an InvalidInputError; any other error unchanged."""
    if (
        exc.status == temporalio.service.RPCStatusCode.INVALID_ARGUMENT
        and "search attribute" in exc.message.lower()
    ):
        return InvalidInputError(
            f"Temporal refused the search attributes: {exc.message}; register the name with "
            "its type (temporal operator search-attribute create) or give a value of its type"
        )
    return exc
