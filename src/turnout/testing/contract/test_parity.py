"""Parity with temporalio: the part of its API turnout supports, and what it leaves out.

A module written with ``from temporalio import workflow, activity`` should need only
its import line changed when it stays inside the supported subset. These tests hold
turnout to that promise:

- every name in ``SUPPORTED`` exists in temporalio and on turnout's counterpart (on
  both executors' clients and handles for the client API), is awaited the same way and
  takes the same positional parameters;
- the keyword arguments in ``KEYWORDS`` are accepted by temporalio and by turnout, and
  turnout never requires one that temporalio leaves optional;
- every public name of ``temporalio.workflow``, ``workflow.unsafe``,
  ``temporalio.activity``, ``Client``, ``WorkflowHandle`` and the modules ``client``,
  ``worker``, ``common``, ``exceptions``, ``testing`` and ``contrib.pydantic`` is listed
  in ``SUPPORTED``,
  ``UNSUPPORTED`` (with the reason) or ``IGNORED``, so a temporalio release that adds a
  name makes a test point at it.

The lists themselves are in :mod:`turnout.testing.contract.parity`.

Names are written as temporalio spells them, prefixed by where they live:
``workflow.X`` / ``workflow.unsafe.X`` (``temporalio.workflow`` and
``turnout.workflow``), ``activity.X`` (``temporalio.activity`` and
``turnout.activity``), ``Client.X`` (``temporalio.client.Client``; turnout's
``InternalClient`` and ``TemporalClient``) and ``WorkflowHandle.X``
(``temporalio.client.WorkflowHandle``; ``InternalWorkflowHandle`` and
``TemporalWorkflowHandle``). ``docs/compatibility.md`` explains the differences.

Run it with ``pytest --pyargs turnout.testing.contract``; no event loop is needed.
"""

from __future__ import annotations

import importlib
import inspect
from types import ModuleType
from typing import Any, ParamSpec, TypeVar

import pytest

# The one skip this module allows: it compares turnout with temporalio, so without the
# ``temporal`` extra there is nothing to compare with. CI installs temporalio, so the
# comparison always runs there. temporalio is reached through importlib after this guard
# (turnout itself imports it only under turnout.executors.temporal).
pytest.importorskip("temporalio")

from turnout import activity, workflow
from turnout.executors.internal.client import (
    InternalClient,
    InternalWorkflowHandle,
)
from turnout.executors.temporal import TemporalClient, TemporalWorkflowHandle
from turnout.testing.contract.parity import (
    FORWARDED,
    IGNORED,
    KEYWORDS,
    KIND_DIFFERENCES,
    POSITIONAL_DIFFERENCES,
    SUPPORTED,
    TURNOUT_ONLY,
    UNSUPPORTED,
)

# -- where the names live ---------------------------------------------------------------

_temporalio_workflow = importlib.import_module("temporalio.workflow")
_temporalio_activity = importlib.import_module("temporalio.activity")
_temporalio_client = importlib.import_module("temporalio.client")
_MODULES = ("client", "worker", "common", "exceptions", "testing", "contrib.pydantic")

TEMPORALIO: dict[str, Any] = {
    "workflow": _temporalio_workflow,
    "workflow.unsafe": _temporalio_workflow.unsafe,
    "activity": _temporalio_activity,
    "Client": _temporalio_client.Client,
    "WorkflowHandle": _temporalio_client.WorkflowHandle,
    **{name: importlib.import_module(f"temporalio.{name}") for name in _MODULES},
}
TURNOUT: dict[str, tuple[Any, ...]] = {
    "workflow": (workflow,),
    "workflow.unsafe": (workflow.unsafe,),
    "activity": (activity,),
    "Client": (InternalClient, TemporalClient),
    "WorkflowHandle": (InternalWorkflowHandle, TemporalWorkflowHandle),
    **{name: (importlib.import_module(f"turnout.{name}"),) for name in _MODULES},
}
_BY_LENGTH = sorted(TEMPORALIO, key=len, reverse=True)


def _split(name: str) -> tuple[str, str]:
    """``workflow.unsafe.is_replaying`` -> (``workflow.unsafe``, ``is_replaying``)."""
    for surface in _BY_LENGTH:
        if name.startswith(surface + ".") and "." not in name[len(surface) + 1 :]:
            return surface, name[len(surface) + 1 :]
    raise ValueError(f"{name!r} does not start with one of {sorted(TEMPORALIO)}")


_LABELS: dict[int, str] = {
    id(workflow): "turnout.workflow",
    id(workflow.unsafe): "turnout.workflow.unsafe",
    id(activity): "turnout.activity",
    **{id(TURNOUT[name][0]): f"turnout.{name}" for name in _MODULES},
}


def _label(target: Any) -> str:
    return _LABELS.get(id(target)) or str(target.__qualname__)


def _turnout_targets(names: tuple[str, ...]) -> list[Any]:
    params = []
    for name in names:
        surface, attr = _split(name)
        for target in TURNOUT[surface]:
            params.append(pytest.param(name, target, attr, id=f"{name}-{_label(target)}"))
    return params


def _is_public_api(value: Any, *, in_module: bool) -> bool:
    """Whether a public attribute is part of temporalio's API, not a re-export for typing."""
    if isinstance(value, ModuleType | TypeVar | ParamSpec):
        return False
    if not in_module:
        return True
    origin = getattr(value, "__module__", None) or ""
    return origin.startswith("temporalio.") and origin != "temporalio.types"


def _public_temporalio_names() -> set[str]:
    names: set[str] = set()
    for surface, owner in TEMPORALIO.items():
        in_module = isinstance(owner, ModuleType)
        for attr in dir(owner):
            if attr.startswith("_"):
                continue
            if _is_public_api(inspect.getattr_static(owner, attr), in_module=in_module):
                names.add(f"{surface}.{attr}")
    return names


def _signature(owner: Any, attr: str) -> inspect.Signature:
    """The call signature as users see it (``self`` dropped for methods)."""
    value = inspect.getattr_static(owner, attr)
    if isinstance(value, staticmethod | classmethod):
        value = value.__func__
    parameters = list(inspect.signature(value).parameters.values())
    if not isinstance(owner, ModuleType) and parameters and parameters[0].name == "self":
        parameters = parameters[1:]
    return inspect.Signature(parameters)


def _is_async(owner: Any, attr: str) -> bool:
    value = inspect.getattr_static(owner, attr)
    if isinstance(value, staticmethod | classmethod):
        value = value.__func__
    return inspect.iscoroutinefunction(value)


def _is_routine(owner: Any, attr: str) -> bool:
    value = inspect.getattr_static(owner, attr, None)
    return isinstance(value, staticmethod | classmethod) or inspect.isfunction(value)


def _positional(signature: inspect.Signature) -> list[str]:
    out = []
    for p in signature.parameters.values():
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            out.append(p.name)
        elif p.kind is p.VAR_POSITIONAL:
            out.append("*" + p.name)
    return out


_BY_KEYWORD = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


def _required(p: inspect.Parameter) -> bool:
    return p.default is inspect.Parameter.empty


def _turnout_keywords(name: str, target: Any, attr: str) -> dict[str, inspect.Parameter]:
    """The keyword parameters of a turnout call, following ``**options`` passed on."""
    params = _signature(target, attr).parameters.values()
    keywords = {p.name: p for p in params if p.kind in _BY_KEYWORD}
    if name in FORWARDED and any(p.kind is p.VAR_KEYWORD for p in params):
        _, forwarded_attr = _split(FORWARDED[name])
        keywords = {**_turnout_keywords(FORWARDED[name], target, forwarded_attr), **keywords}
    return keywords


# -- the data itself is consistent ------------------------------------------------------


def test_the_lists_do_not_overlap() -> None:
    supported = set(SUPPORTED)
    assert len(supported) == len(SUPPORTED), "SUPPORTED lists a name twice"
    assert supported.isdisjoint(UNSUPPORTED), sorted(supported & set(UNSUPPORTED))
    assert supported.isdisjoint(IGNORED), sorted(supported & IGNORED)
    assert IGNORED.isdisjoint(UNSUPPORTED), sorted(IGNORED & set(UNSUPPORTED))


def test_every_listed_name_names_a_known_place() -> None:
    for name in [*SUPPORTED, *TURNOUT_ONLY, *UNSUPPORTED, *IGNORED, *KEYWORDS]:
        _split(name)  # raises for a name outside the known surfaces


@pytest.mark.parametrize("name", sorted(UNSUPPORTED))
def test_each_unsupported_name_has_a_one_line_reason(name: str) -> None:
    reason = UNSUPPORTED[name]
    assert reason.strip(), f"{name} needs a reason"
    assert "\n" not in reason


def test_the_detail_lists_only_name_supported_calls() -> None:
    for table in (KEYWORDS, FORWARDED, KIND_DIFFERENCES, POSITIONAL_DIFFERENCES):
        assert set(table) <= set(SUPPORTED), sorted(set(table) - set(SUPPORTED))


# -- temporalio's side ------------------------------------------------------------------


def test_every_public_temporalio_name_is_classified() -> None:
    """A temporalio release that adds a public name fails here, naming it.

    Put each new name in SUPPORTED (once turnout has it), in UNSUPPORTED with the
    reason, or in IGNORED when it is a type users do not call directly.
    """
    classified = set(SUPPORTED) | set(UNSUPPORTED) | IGNORED
    unclassified = sorted(_public_temporalio_names() - classified)
    assert unclassified == [], (
        "temporalio names not classified in turnout.testing.contract.parity: "
        f"{unclassified}; add each to "
        f"SUPPORTED, UNSUPPORTED (with a reason) or IGNORED"
    )


@pytest.mark.parametrize("name", SUPPORTED)
def test_each_supported_name_exists_in_temporalio(name: str) -> None:
    surface, attr = _split(name)
    assert hasattr(TEMPORALIO[surface], attr), f"temporalio has no {name}: fix SUPPORTED"


# -- turnout's side ---------------------------------------------------------------------


@pytest.mark.parametrize(("name", "target", "attr"), _turnout_targets(SUPPORTED))
def test_turnout_has_each_supported_name(name: str, target: Any, attr: str) -> None:
    assert hasattr(target, attr), f"{_label(target)} lacks {attr} (temporalio {name})"


@pytest.mark.parametrize(("name", "target", "attr"), _turnout_targets(TURNOUT_ONLY))
def test_every_executor_has_turnouts_own_additions(name: str, target: Any, attr: str) -> None:
    assert hasattr(target, attr), f"{_label(target)} lacks {attr}"


@pytest.mark.parametrize("name", sorted(UNSUPPORTED))
def test_unsupported_names_are_really_missing(name: str) -> None:
    """When turnout gains a name on every executor, move it to SUPPORTED."""
    surface, attr = _split(name)
    assert not all(hasattr(target, attr) for target in TURNOUT[surface]), (
        f"turnout now has {name}: move it from UNSUPPORTED to SUPPORTED"
    )


@pytest.mark.parametrize(("name", "target", "attr"), _turnout_targets(SUPPORTED))
def test_supported_calls_are_awaited_the_same_way(name: str, target: Any, attr: str) -> None:
    surface, _ = _split(name)
    theirs = TEMPORALIO[surface]
    if not (_is_routine(theirs, attr) and _is_routine(target, attr)):
        return  # a type, a property or the logger: nothing is called
    if name in KIND_DIFFERENCES:
        assert _is_async(theirs, attr) != _is_async(target, attr), (
            f"{name} is listed in KIND_DIFFERENCES but is awaited the same way: remove it"
        )
        return
    assert _is_async(target, attr) == _is_async(theirs, attr), (
        f"{_label(target)}.{attr} is {'async' if _is_async(target, attr) else 'sync'}, "
        f"temporalio's {name} is not"
    )


@pytest.mark.parametrize(("name", "target", "attr"), _turnout_targets(SUPPORTED))
def test_supported_calls_take_the_same_positional_parameters(
    name: str, target: Any, attr: str
) -> None:
    surface, _ = _split(name)
    theirs = TEMPORALIO[surface]
    if not (_is_routine(theirs, attr) and _is_routine(target, attr)):
        return
    ours_positional = _positional(_signature(target, attr))
    theirs_positional = _positional(_signature(theirs, attr))
    if name in POSITIONAL_DIFFERENCES:
        assert ours_positional != theirs_positional, (
            f"{name} is listed in POSITIONAL_DIFFERENCES but matches: remove it"
        )
        return
    assert ours_positional == theirs_positional, (
        f"{_label(target)}.{attr} takes {ours_positional} positionally, "
        f"temporalio's {name} takes {theirs_positional}"
    )


@pytest.mark.parametrize(("name", "target", "attr"), _turnout_targets(tuple(KEYWORDS)))
def test_key_calls_accept_temporalios_keywords(name: str, target: Any, attr: str) -> None:
    surface, _ = _split(name)
    theirs = _signature(TEMPORALIO[surface], attr).parameters
    ours = _turnout_keywords(name, target, attr)
    problems = []
    for keyword in KEYWORDS[name]:
        their_param = theirs.get(keyword)
        if their_param is None or their_param.kind not in _BY_KEYWORD:
            problems.append(f"temporalio's {name} takes no keyword {keyword!r}: fix KEYWORDS")
            continue
        our_param = ours.get(keyword)
        if our_param is None:
            problems.append(f"{_label(target)}.{attr} takes no keyword {keyword!r}")
        elif _required(our_param) and not _required(their_param):
            problems.append(
                f"{_label(target)}.{attr} requires {keyword!r}, temporalio leaves it optional"
            )
    assert not problems, "\n".join(problems)
