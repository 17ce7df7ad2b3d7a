"""Dynamic definitions, as temporalio has them: a workflow or activity that runs every
type no other registered one has, and handlers that take every signal, query or update
no named handler takes. They take their arguments unconverted (``Sequence[RawValue]``)
and convert them with the payload converter once they know the name they were called by.

A dynamic definition has no name: the empty name stands for "dynamic" wherever
definitions are kept by name (no workflow, activity or handler name may be empty), and a
worker looks a type up by its name first, then falls back on its dynamic definition,
seen under the name it was called by (:func:`lookup`).
"""

from __future__ import annotations

import collections.abc
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol, TypeVar

from turnout.contracts.payloads import RawValue

__all__ = [
    "DYNAMIC",
    "by_name",
    "check_dynamic_handler",
    "check_dynamic_input",
    "lookup",
    "refuse_name_and_dynamic",
]

DYNAMIC = ""
"""The name a dynamic workflow, activity or handler is kept under."""

_RAW_SEQUENCES = (collections.abc.Sequence[RawValue], typing.Sequence[RawValue])


class _Named(Protocol):
    @property
    def name(self) -> str: ...
    def for_type(self, name: str) -> Any: ...


D = TypeVar("D", bound=_Named)


def _is_raw_sequence(hint: Any) -> bool:
    return any(hint == shape for shape in _RAW_SEQUENCES)


def check_dynamic_input(what: str, arg_types: tuple[Any, ...]) -> None:
    """Refuse a dynamic workflow's run method or a dynamic activity (``what``) that does
    not take exactly ``args: Sequence[RawValue]``, with temporalio's TypeError."""
    if len(arg_types) != 1 or not _is_raw_sequence(arg_types[0]):
        raise TypeError(
            f"{what} is dynamic: it must take a single parameter, args: Sequence[RawValue] "
            "(from turnout.common import RawValue)"
        )


def check_dynamic_handler(what: str, arg_types: tuple[Any, ...]) -> None:
    """Refuse a dynamic handler (``what``) that does not take ``(name: str, args:
    Sequence[RawValue])`` after ``self``, with temporalio's RuntimeError."""
    if len(arg_types) != 2 or arg_types[0] is not str or not _is_raw_sequence(arg_types[1]):
        raise RuntimeError(
            f"{what} is dynamic: it must take (name: str, args: Sequence[RawValue]) after "
            "self (from turnout.common import RawValue)"
        )


def refuse_name_and_dynamic(what: str, name: str | None, dynamic: bool) -> None:
    """A decorator given both a name and ``dynamic=True``: refused, as temporalio does."""
    if name is not None and dynamic:
        raise RuntimeError(f"{what} takes a name or dynamic=True, not both")


def by_name(definitions: Iterable[D], what: str) -> dict[str, D]:
    """``definitions`` (a worker's workflows or activities) by name, the dynamic one under
    :data:`DYNAMIC`; a second dynamic one is refused with temporalio's TypeError."""
    found: dict[str, D] = {}
    for defn in definitions:
        if defn.name == DYNAMIC and DYNAMIC in found:
            raise TypeError(
                f"a worker takes one dynamic {what}, and was given two: "
                f"{_label(found[DYNAMIC])} and {_label(defn)}"
            )
        found[defn.name] = defn
    return found


def lookup(definitions: Mapping[str, D], name: str) -> D | None:
    """The definition of the type ``name``: its own, else the dynamic one seen as ``name``
    (so its runs and attempts carry the name they were started with), else None."""
    found = definitions.get(name)
    if found is not None or not name:
        return found
    dynamic = definitions.get(DYNAMIC)
    return None if dynamic is None else dynamic.for_type(name)


def _label(defn: Any) -> str:
    target: Callable[..., Any] | type | None = getattr(defn, "cls", None) or getattr(
        defn, "fn", None
    )
    return str(getattr(target, "__qualname__", repr(target)))
