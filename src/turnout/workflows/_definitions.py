"""Frozen definitions built by the decorators, read by the executors.

``@workflow.defn`` validates the class when the decorator runs and attaches a
:class:`WorkflowDefinition`; ``@activity.defn`` does the same for functions.
Executors read these definitions only; nothing else inspects user classes.
Registration hooks let an executor (the Temporal one) attach its own
definition to the very same class or function at decoration time.
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from turnout.contracts.payloads import RAW_ARGUMENTS
from turnout.workflows._dynamic import (
    DYNAMIC,
    check_dynamic_handler,
    check_dynamic_input,
    refuse_name_and_dynamic,
)

__all__ = [
    "ActivityDefinition",
    "HandlerDefinition",
    "WorkflowDefinition",
    "add_definition_hook",
    "runtime_handler",
]

_WORKFLOW_ATTR = "__turnout_workflow_definition__"
_ACTIVITY_ATTR = "__turnout_activity_definition__"
_RUN_ATTR = "__turnout_workflow_run__"
_SIGNAL_ATTR = "__turnout_signal_name__"
_QUERY_ATTR = "__turnout_query_name__"
_UPDATE_ATTR = "__turnout_update_name__"
_VALIDATOR_ATTR = "__turnout_update_validator__"
_INIT_ATTR = "__turnout_workflow_init__"
_OWNER_ATTR = "__turnout_owner_definition__"


@dataclass(frozen=True)
class HandlerDefinition:
    """A signal, query or update handler of a workflow class."""

    name: str
    method_name: str
    fn: Callable[..., Any]
    arg_types: tuple[Any, ...]
    return_type: Any
    is_async: bool
    validator: Callable[..., Any] | None = None
    """An update's validator (``@handler.validator``): raising rejects the update."""

    @property
    def dynamic(self) -> bool:
        """Takes what no named handler takes, as ``(name, args: Sequence[RawValue])``."""
        return self.name == DYNAMIC


@dataclass(frozen=True)
class WorkflowDefinition:
    """What ``@workflow.defn`` learned about a workflow class."""

    name: str
    cls: type
    run_method_name: str
    run_fn: Callable[..., Any]
    arg_types: tuple[Any, ...]
    return_type: Any
    signals: Mapping[str, HandlerDefinition] = field(default_factory=dict)
    queries: Mapping[str, HandlerDefinition] = field(default_factory=dict)
    updates: Mapping[str, HandlerDefinition] = field(default_factory=dict)
    failure_exception_types: tuple[type[BaseException], ...] = ()
    """Exceptions that fail the workflow when its code raises them (not only the task)."""
    init_fn: Callable[..., Any] | None = None
    """The ``@workflow.init`` ``__init__``, when the class has one: the workflow object
    is then made with the run's arguments instead of none."""
    dynamic: bool = False
    """Runs every workflow type no other registered workflow has (``arg_types`` is then
    ``RAW_ARGUMENTS``); :meth:`for_type` names it after the type it runs."""

    def for_type(self, name: str) -> WorkflowDefinition:
        """This dynamic definition as it runs the workflow type ``name``."""
        return dataclasses.replace(self, name=name)

    def new_instance(self, args: list[Any]) -> Any:
        """The workflow object for a run whose decoded input is ``args``."""
        return self.cls(*args) if self.init_fn is not None else self.cls()

    @staticmethod
    def from_class(cls: type) -> WorkflowDefinition | None:
        """The definition attached to ``cls`` itself (not inherited), or None."""
        defn = cls.__dict__.get(_WORKFLOW_ATTR)
        return defn if isinstance(defn, WorkflowDefinition) else None

    @staticmethod
    def must_from_class(cls: type) -> WorkflowDefinition:
        """The definition of ``cls``, or a TypeError saying how to fix the class."""
        defn = WorkflowDefinition.from_class(cls)
        if defn is None:
            raise TypeError(
                f"{cls.__qualname__} is not a workflow: decorate it with @workflow.defn"
            )
        return defn

    @staticmethod
    def from_run_fn(fn: Callable[..., Any]) -> WorkflowDefinition | None:
        """The definition whose ``@workflow.run`` method is ``fn``, or None."""
        defn = getattr(fn, _WORKFLOW_ATTR, None)
        return defn if isinstance(defn, WorkflowDefinition) else None

    @staticmethod
    def from_handler(fn: Callable[..., Any]) -> WorkflowDefinition | None:
        """The definition of the workflow class whose signal or query handler ``fn`` is."""
        defn = getattr(fn, _OWNER_ATTR, None)
        return defn if isinstance(defn, WorkflowDefinition) else None

    def signal_for(self, signal: str | Callable[..., Any]) -> HandlerDefinition | None:
        """The signal handler for a name or a decorated method."""
        name = signal if isinstance(signal, str) else getattr(signal, _SIGNAL_ATTR, None)
        return self.signals.get(name) if name else None

    def update_for(self, update: str | Callable[..., Any]) -> HandlerDefinition | None:
        """The update handler for a name or a decorated method."""
        name = update if isinstance(update, str) else getattr(update, _UPDATE_ATTR, None)
        return self.updates.get(name) if name else None

    def query_for(self, query: str | Callable[..., Any]) -> HandlerDefinition | None:
        """The query handler for a name or a decorated method."""
        name = query if isinstance(query, str) else getattr(query, _QUERY_ATTR, None)
        return self.queries.get(name) if name else None


@dataclass(frozen=True)
class ActivityDefinition:
    """What ``@activity.defn`` learned about an activity function or method.

    An activity declared on a method (``def fetch(self, ...)``, or ``__call__`` of a
    callable class) runs bound to an instance: the worker is given ``obj.fetch`` or the
    instance itself, and :meth:`from_callable` returns the definition with ``fn`` bound.
    """

    name: str
    fn: Callable[..., Any]
    is_async: bool
    arg_types: tuple[Any, ...]
    return_type: Any
    is_method: bool = False
    """Declared on a method: only a bound method or an instance can run it."""
    dynamic: bool = False
    """Runs every activity type no registered activity has (``arg_types`` is then
    ``RAW_ARGUMENTS``); :meth:`for_type` names it after the type it runs."""

    def for_type(self, name: str) -> ActivityDefinition:
        """This dynamic definition as it runs the activity type ``name``."""
        return dataclasses.replace(self, name=name)

    @staticmethod
    def from_callable(fn: Any) -> ActivityDefinition | None:
        """The definition of an activity function; of a bound method or an instance of
        a callable activity class, with ``fn`` bound to that instance; of a method or a
        class (what workflow code names), unbound. None when ``fn`` is no activity."""
        defn = getattr(fn, _ACTIVITY_ATTR, None)
        if not isinstance(defn, ActivityDefinition):
            return None
        bound = inspect.ismethod(fn) or not (inspect.isfunction(fn) or inspect.isclass(fn))
        return dataclasses.replace(defn, fn=fn) if bound and defn.is_method else defn

    @staticmethod
    def must_from_callable(fn: Any) -> ActivityDefinition:
        """The definition of ``fn``, or a TypeError saying how to fix it."""
        defn = ActivityDefinition.from_callable(fn)
        if defn is None:
            name = getattr(fn, "__qualname__", repr(fn))
            raise TypeError(f"{name} is not an activity: decorate it with @activity.defn")
        return defn

    @staticmethod
    def for_worker(fn: Any) -> ActivityDefinition:
        """The definition of an activity a worker is given to run: a method must come
        bound to its instance (a TypeError naming the fix otherwise)."""
        defn = ActivityDefinition.must_from_callable(fn)
        if defn.is_method and (inspect.isfunction(defn.fn) or inspect.isclass(defn.fn)):
            owner, _, method = str(getattr(fn, "__qualname__", defn.name)).rpartition(".")
            example = (
                f"{fn.__name__}(...)"
                if inspect.isclass(fn)
                else f"{owner or 'MyClass'}(...).{method}"
            )
            raise TypeError(
                f"activity {defn.name} is a method: give the worker an instance's, e.g. "
                f"activities=[{example}]"
            )
        return defn


WorkflowHook = Callable[[type, WorkflowDefinition], None]
ActivityHook = Callable[[Callable[..., Any], ActivityDefinition], None]
_workflow_hooks: list[WorkflowHook] = []
_activity_hooks: list[ActivityHook] = []


def add_definition_hook(
    *, workflow: WorkflowHook | None = None, activity: ActivityHook | None = None
) -> None:
    """Have ``workflow`` / ``activity`` called for every definition made from now on.

    Executors use this to attach their own definitions (Temporal's) to the user's
    classes when ``@workflow.defn`` runs, including when a sandbox re-imports the
    user's module; classes decorated earlier are handled by the executor itself.
    Adding the same hook twice has no effect.
    """
    if workflow is not None and workflow not in _workflow_hooks:
        _workflow_hooks.append(workflow)
    if activity is not None and activity not in _activity_hooks:
        _activity_hooks.append(activity)


def _signature_types(fn: Callable[..., Any], *, skip_self: bool) -> tuple[tuple[Any, ...], Any]:
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # unresolved forward references: fall back to Any
        hints = {}
    params = list(inspect.signature(fn).parameters.values())
    if skip_self and params:
        params = params[1:]
    args = tuple(
        hints.get(p.name, Any)
        for p in params
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    )
    return args, hints.get("return", Any)


def _handler(method_name: str, fn: Callable[..., Any], name: str) -> HandlerDefinition:
    arg_types, return_type = _signature_types(fn, skip_self=True)
    return HandlerDefinition(
        name=name,
        method_name=method_name,
        fn=fn,
        arg_types=arg_types,
        return_type=return_type,
        is_async=inspect.iscoroutinefunction(fn),
    )


def _exception_types(types: tuple[Any, ...]) -> tuple[type[BaseException], ...]:
    for t in types:
        if not (isinstance(t, type) and issubclass(t, BaseException)):
            raise TypeError(f"failure_exception_types takes exception classes, got {t!r}")
    return tuple(types)


def runtime_handler(
    name: str, fn: Callable[..., Any], validator: Callable[..., Any] | None = None
) -> HandlerDefinition:
    """The definition of a handler set while the workflow runs (``set_signal_handler``
    and its kin): ``fn`` is called as it is (a bound method or a function), so its
    ``method_name`` is empty."""
    if not callable(fn):
        raise TypeError(f"the handler of {name or 'dynamic'!r} must be callable, got {fn!r}")
    if validator is not None and inspect.iscoroutinefunction(validator):
        raise TypeError(f"the validator of update {name or 'dynamic'!r} must not be async")
    arg_types, return_type = _signature_types(fn, skip_self=False)
    if name == DYNAMIC:
        check_dynamic_handler(f"the handler {getattr(fn, '__qualname__', fn)!r}", arg_types)
    return HandlerDefinition(
        name=name,
        method_name="",
        fn=fn,
        arg_types=arg_types,
        return_type=return_type,
        is_async=inspect.iscoroutinefunction(fn),
        validator=validator,
    )


def _update_handler(cls: type, attr: str, fn: Callable[..., Any], name: str) -> HandlerDefinition:
    validator = getattr(fn, _VALIDATOR_ATTR, None)
    if validator is not None and inspect.iscoroutinefunction(validator):
        raise TypeError(f"the validator of update {attr} of {cls.__qualname__} must not be async")
    return dataclasses.replace(_handler(attr, fn, name), validator=validator)


def define_workflow(
    cls: type,
    name: str | None,
    *,
    failure_exception_types: tuple[type[BaseException], ...] = (),
    dynamic: bool = False,
) -> WorkflowDefinition:
    """Validate ``cls`` and attach its definition (``@workflow.defn`` calls this)."""
    if not inspect.isclass(cls):
        raise TypeError("@workflow.defn decorates a class")
    refuse_name_and_dynamic(f"@workflow.defn of {cls.__qualname__}", name, dynamic)
    run: tuple[str, Callable[..., Any]] | None = None
    signals: dict[str, HandlerDefinition] = {}
    queries: dict[str, HandlerDefinition] = {}
    updates: dict[str, HandlerDefinition] = {}
    for klass in reversed(cls.__mro__):
        runs_here = [(a, m) for a, m in vars(klass).items() if getattr(m, _RUN_ATTR, False)]
        if len(runs_here) > 1:
            names = ", ".join(a for a, _ in runs_here)
            raise TypeError(f"{klass.__qualname__} has several @workflow.run methods: {names}")
        if runs_here:
            run = runs_here[0]
        for attr, member in vars(klass).items():
            if (signal_name := getattr(member, _SIGNAL_ATTR, None)) is not None:
                signals[signal_name] = _handler(attr, member, signal_name)
            if (query_name := getattr(member, _QUERY_ATTR, None)) is not None:
                if inspect.iscoroutinefunction(member):
                    raise TypeError(f"query {attr} of {cls.__qualname__} must not be async")
                queries[query_name] = _handler(attr, member, query_name)
            if (update_name := getattr(member, _UPDATE_ATTR, None)) is not None:
                updates[update_name] = _update_handler(cls, attr, member, update_name)
    if run is None:
        raise TypeError(f"{cls.__qualname__} has no method decorated with @workflow.run")
    run_name, run_fn = run
    if not inspect.iscoroutinefunction(run_fn):
        raise TypeError(f"{cls.__qualname__}.{run_name} must be `async def`")
    init_fn = _init_of(cls, run_fn)
    arg_types, return_type = _signature_types(run_fn, skip_self=True)
    if dynamic:
        check_dynamic_input(f"the @workflow.run method of {cls.__qualname__}", arg_types)
        arg_types = RAW_ARGUMENTS
    defn = WorkflowDefinition(
        name=DYNAMIC if dynamic else name or cls.__name__,
        cls=cls,
        run_method_name=run_name,
        run_fn=run_fn,
        arg_types=arg_types,
        return_type=return_type,
        signals=signals,
        queries=queries,
        updates=updates,
        init_fn=init_fn,
        failure_exception_types=_exception_types(failure_exception_types),
        dynamic=dynamic,
    )
    setattr(cls, _WORKFLOW_ATTR, defn)
    if not dynamic:  # a dynamic workflow is started by a type name, never by its method
        setattr(run_fn, _WORKFLOW_ATTR, defn)
    for handler in (*signals.values(), *queries.values(), *updates.values()):
        setattr(handler.fn, _OWNER_ATTR, defn)
    for hook in _workflow_hooks:
        hook(cls, defn)
    return defn


def _is_method(fn: Callable[..., Any]) -> bool:
    """Whether ``fn`` is a method declared in a class body (its first parameter ``self``)."""
    try:
        params = list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return False
    return bool(params) and params[0] == "self" and "." in str(getattr(fn, "__qualname__", ""))


def _init_of(cls: type, run_fn: Callable[..., Any]) -> Callable[..., Any] | None:
    """The class's ``@workflow.init`` ``__init__`` (its own or inherited), checked against
    the run method: the parameters must be the same but for their names, as on Temporal."""
    init_fn = getattr(cls, "__init__", None)
    if init_fn is None or not getattr(init_fn, _INIT_ATTR, False):
        return None
    if _parameters(init_fn) != _parameters(run_fn):
        raise ValueError(
            f"Invalid workflow class {cls.__qualname__}: @workflow.init and @workflow.run "
            "method parameters do not match (they must have the same kinds, defaults and "
            "annotations; only the names may differ)"
        )
    return init_fn  # type: ignore[no-any-return]


def _parameters(fn: Callable[..., Any]) -> list[inspect.Parameter]:
    """``fn``'s parameters with their names blanked out, for comparison."""
    return [p.replace(name="_") for p in inspect.signature(fn).parameters.values()]


def define_activity(
    fn: Callable[..., Any], name: str | None, *, dynamic: bool = False
) -> ActivityDefinition:
    """Validate ``fn`` and attach its definition (``@activity.defn`` calls this)."""
    if not callable(fn):
        raise TypeError("@activity.defn decorates a function, a method or a callable class")
    refuse_name_and_dynamic("@activity.defn", name, dynamic)
    if inspect.isclass(fn) and not any("__call__" in vars(k) for k in fn.__mro__[:-1]):
        raise TypeError(f"activity class {fn.__name__} needs a __call__ method to run")
    # A callable class runs as its instances' __call__; a method bound to its instance.
    code = fn.__call__ if inspect.isclass(fn) else fn
    is_method = inspect.isclass(fn) or _is_method(fn)
    arg_types, return_type = _signature_types(code, skip_self=is_method)
    if dynamic:
        check_dynamic_input(f"activity {getattr(fn, '__qualname__', fn)}", arg_types)
        arg_types = RAW_ARGUMENTS
    defn = ActivityDefinition(
        name=DYNAMIC if dynamic else name or str(getattr(fn, "__name__", type(fn).__name__)),
        fn=fn,
        is_async=inspect.iscoroutinefunction(code),
        arg_types=arg_types,
        return_type=return_type,
        is_method=is_method,
        dynamic=dynamic,
    )
    setattr(fn, _ACTIVITY_ATTR, defn)
    for hook in _activity_hooks:
        hook(fn, defn)
    return defn


def _message_name(message: str | Callable[..., Any], attr: str, kind: str) -> str:
    """The name of a signal, query or update given as a name or a decorated method."""
    name = message if isinstance(message, str) else getattr(message, attr, None)
    if name is None:
        raise TypeError(f"{message!r} is not a {kind}: decorate it with @workflow.{kind}")
    if name == DYNAMIC:
        raise RuntimeError(f"a dynamic {kind} handler has no name to send: pass the name")
    return str(name)


def signal_name(signal: str | Callable[..., Any]) -> str:
    """The name of a signal given as a name or as a ``@workflow.signal`` method."""
    return _message_name(signal, _SIGNAL_ATTR, "signal")


def query_name(query: str | Callable[..., Any]) -> str:
    """The name of a query given as a name or as a ``@workflow.query`` method."""
    return _message_name(query, _QUERY_ATTR, "query")


def mark_run(fn: Any) -> Any:
    """Mark ``fn`` as the workflow's entry point."""
    setattr(fn, _RUN_ATTR, True)
    return fn


def mark_init(fn: Any) -> Any:
    """Mark ``fn`` (which must be ``__init__``) as taking the workflow's input."""
    if getattr(fn, "__name__", None) != "__init__":
        raise ValueError("@workflow.init may only be used on the __init__ method")
    setattr(fn, _INIT_ATTR, True)
    return fn


def _mark_handler(fn: Any, attr: str, kind: str, name: str | None, dynamic: bool) -> Any:
    refuse_name_and_dynamic(f"@workflow.{kind}", name, dynamic)
    if dynamic:  # checked when decorated, as temporalio does
        arg_types, _ = _signature_types(fn, skip_self=True)
        check_dynamic_handler(f"the {kind} handler {fn.__qualname__}", arg_types)
    setattr(fn, attr, DYNAMIC if dynamic else name or fn.__name__)
    return fn


def mark_signal(fn: Any, name: str | None, dynamic: bool = False) -> Any:
    """Mark ``fn`` as a signal handler (of every signal no named one takes: ``dynamic``)."""
    return _mark_handler(fn, _SIGNAL_ATTR, "signal", name, dynamic)


def update_name(update: str | Callable[..., Any]) -> str:
    """The name of an update given as a name or as a ``@workflow.update`` method."""
    return _message_name(update, _UPDATE_ATTR, "update")


def mark_update(fn: Any, name: str | None, dynamic: bool = False) -> Any:
    """Mark ``fn`` as an update handler; ``@fn.validator`` then names its validator."""
    _mark_handler(fn, _UPDATE_ATTR, "update", name, dynamic)

    def validator(validate: Any) -> Any:
        setattr(fn, _VALIDATOR_ATTR, validate)
        return validate

    fn.validator = validator
    return fn


def mark_query(fn: Any, name: str | None, dynamic: bool = False) -> Any:
    """Mark ``fn`` as a query handler (of every query no named one takes: ``dynamic``)."""
    return _mark_handler(fn, _QUERY_ATTR, "query", name, dynamic)
