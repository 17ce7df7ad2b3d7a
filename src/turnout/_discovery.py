"""Finding workflows and activities in modules (``turnout worker myapp.workflows``)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

__all__ = ["Definitions", "load_definitions"]


@dataclass(frozen=True)
class Definitions:
    """Workflow classes and activity functions found by :func:`load_definitions`."""

    workflows: tuple[type, ...]
    """Classes decorated with ``@workflow.defn``."""

    activities: tuple[Callable[..., Any], ...]
    """Functions decorated with ``@activity.defn``."""

    ambiguous: tuple[str, ...] = ()
    """Workflow or activity names that a module scan found on several distinct objects
    (versions of one type, say); they are left out: name the one to run as ``module:attr``."""


def load_definitions(targets: Iterable[str]) -> Definitions:
    """Import ``targets`` and collect the workflows and activities they define.

    A target is a module path (``myapp.workflows``: every ``@workflow.defn`` class
    and ``@activity.defn`` function among its attributes, imported ones included)
    or ``module:attr`` (that one object, or each item when it is a list or tuple;
    ``attr`` may be dotted). An explicitly named object wins over one a module scan
    found under the same name; two named objects with one name are an error.

    Raises ImportError, AttributeError, or ValueError / TypeError saying what to fix.
    """
    from turnout.workflows._definitions import ActivityDefinition, WorkflowDefinition

    def name_of(obj: object) -> tuple[str, str] | None:
        if isinstance(obj, type):
            wdefn = WorkflowDefinition.from_class(obj)
            return ("workflow", wdefn.name) if wdefn is not None else None
        if callable(obj):
            adefn = ActivityDefinition.from_callable(obj)
            return ("activity", adefn.name) if adefn is not None else None
        return None

    explicit: dict[tuple[str, str], object] = {}
    scanned: dict[tuple[str, str], list[object]] = {}
    for target in targets:
        module_name, _, attr = target.partition(":")
        if not module_name:
            raise ValueError(f"{target!r}: expected 'module' or 'module:attr'")
        module = importlib.import_module(module_name)
        if not attr:
            for obj in vars(module).values():
                key = name_of(obj)
                if key is not None:
                    found = scanned.setdefault(key, [])
                    if not any(o is obj for o in found):
                        found.append(obj)
            continue
        value: object = module
        for part in attr.split("."):
            value = getattr(value, part)
        items = list(value) if isinstance(value, list | tuple) else [value]
        for obj in items:
            key = name_of(obj)
            if key is None:
                raise TypeError(
                    f"{target!r}: {obj!r} is neither a @workflow.defn class "
                    "nor an @activity.defn function"
                )
            other = explicit.setdefault(key, obj)
            if other is not obj:
                raise ValueError(
                    f"{target!r}: {key[0]} name {key[1]!r} is defined by both "
                    f"{other!r} and {obj!r}; name only one of them"
                )
    chosen = dict(explicit)
    ambiguous: list[str] = []
    for key, objs in scanned.items():
        if key in chosen:
            continue
        if len(objs) == 1:
            chosen[key] = objs[0]
        else:
            ambiguous.append(f"{key[0]} {key[1]!r}")
    workflows = tuple(obj for (kind, _), obj in chosen.items() if kind == "workflow")
    activities = tuple(obj for (kind, _), obj in chosen.items() if kind == "activity")
    return Definitions(
        workflows=tuple(w for w in workflows if isinstance(w, type)),
        activities=tuple(a for a in activities if callable(a)),
        ambiguous=tuple(sorted(ambiguous)),
    )
