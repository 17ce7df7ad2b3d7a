"""``workflow.memo()``, ``workflow.memo_value()``, ``workflow.upsert_memo()`` and
``workflow.upsert_search_attributes()``: the run's memo and search attributes as its
workflow code reads and changes them (temporalio's names)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from turnout.contracts.memo import NO_DEFAULT, check_memo_updates
from turnout.contracts.memo import memo_value as _lookup
from turnout.contracts.search_attributes import check_search_attribute_updates
from turnout.workflows._runtime import current_workflow_runtime

__all__ = ["memo", "memo_value", "upsert_memo", "upsert_search_attributes"]


def memo() -> Mapping[str, Any]:
    """The run's memo, its values unconverted: what the start gave, with this run's
    upserts so far."""
    return current_workflow_runtime().memo()


def memo_value(key: str, default: Any = NO_DEFAULT, *, type_hint: Any = None) -> Any:
    """The memo's value of ``key``, converted to ``type_hint`` when given; ``default``
    when the key is missing (KeyError when no default is given)."""
    return _lookup(current_workflow_runtime().memo(), key, default, type_hint)


def upsert_memo(updates: Mapping[str, Any]) -> None:
    """Set each key of ``updates`` in the memo to its value; a None value removes the
    key. Recorded in the run's history (``workflow_properties_modified``), kept by
    continue-as-new, shown by ``describe()``."""
    checked = check_memo_updates(updates)
    if checked:
        current_workflow_runtime().upsert_memo(checked)


def upsert_search_attributes(attributes: Any) -> None:
    """Change the run's search attributes: ``[key.value_set(value), key.value_unset()]``,
    or TypedSearchAttributes (each pair set). Recorded in the run's history
    (``upsert_workflow_search_attributes``), seen at once in ``workflow.info()``, kept
    by continue-as-new, searched by ``list_workflows(query)``."""
    checked = check_search_attribute_updates(attributes)
    if checked:
        current_workflow_runtime().upsert_search_attributes(checked)
