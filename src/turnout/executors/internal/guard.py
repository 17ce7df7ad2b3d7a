"""The determinism guard: workflow code that reads the clock, draws random numbers or
does I/O is refused, as Temporal's sandbox refuses it.

Such a call gives a different answer when the run is replayed, so a workflow that
makes one works until its first replay and then breaks, or (on Temporal) never runs at
all. The internal executor has no sandbox; instead, while a callback of workflow code
runs, a profile function watches the calls made *by workflow code* (not by turnout,
the standard library or third-party libraries it calls) and raises
:class:`~turnout.contracts.errors.RestrictedWorkflowAccessError` at a forbidden one,
naming the call and its deterministic replacement. The workflow task then fails and
the run stays open for a fix, as on Temporal.

Workflow code is the code of the workflow's own package and any code outside the
standard library, turnout and the installed third-party packages. A workflow declared
``@workflow.defn(sandboxed=False)`` is not guarded, and neither is a call made inside
``workflow.unsafe.sandbox_unrestricted()``.
"""

from __future__ import annotations

import datetime
import functools
import inspect
import os
import random
import socket
import subprocess
import sys
import sysconfig
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from types import CodeType, FrameType
from typing import Any, TypeVar

from turnout.contracts.errors import RestrictedWorkflowAccessError
from turnout.workflows.workflow import unsafe

__all__ = ["Profile", "guard_for", "run_guarded", "unguarded_methods"]

Profile = Callable[[FrameType, str, Any], object]
T = TypeVar("T")

_NOW = "use workflow.now()"
_RANDOM = "use workflow.random()"
_IO = "do it in an activity"


_CLOCK = ["time", "time_ns", "monotonic", "monotonic_ns", "perf_counter", "perf_counter_ns"]
_CPU = ["process_time", "process_time_ns", "thread_time", "thread_time_ns", "localtime"]
_FILES = ["system", "listdir", "scandir", "remove", "mkdir", "getcwd"]

_BUILTIN_CALLS: dict[object, tuple[str, str]] = {
    getattr(owner, name): (f"{prefix}.{name}", how)
    for owner, prefix, names, how in [
        (time, "time", [*_CLOCK, *_CPU], _NOW),
        (time, "time", ["sleep"], "use workflow.sleep() (or asyncio.sleep)"),
        (datetime.datetime, "datetime.datetime", ["now", "utcnow", "today"], _NOW),
        (datetime.date, "datetime.date", ["today"], _NOW),
        (os, "os", ["urandom", "getrandom"], _RANDOM),
        (os, "os", _FILES, _IO),
    ]
    for name in names
} | {open: ("open", _IO)}
"""C functions workflow code may not call, with their names and replacements."""

_GLOBAL_RANDOM = getattr(random, "_inst", None)
"""The instance behind the ``random`` module's functions (``workflow.random()`` is another)."""

_RANDOM_METHODS = frozenset(
    getattr(_GLOBAL_RANDOM, name) for name in ("random", "getrandbits", "seed", "setstate")
)
"""Its C methods, which the module's Python functions (``randint``, ``choice``) reach."""

_PYTHON_CALLS: dict[CodeType, tuple[str, str]] = {
    function.__code__: (name, how)
    for function, name, how in [
        (uuid.uuid1, "uuid.uuid1", "use workflow.uuid4()"),
        (uuid.uuid4, "uuid.uuid4", "use workflow.uuid4()"),
        (socket.socket.__init__, "socket.socket", _IO),
        (socket.create_connection, "socket.create_connection", _IO),
        (subprocess.Popen.__init__, "subprocess.Popen", _IO),
        (subprocess.run, "subprocess.run", _IO),
        (subprocess.call, "subprocess.call", _IO),
        (subprocess.check_call, "subprocess.check_call", _IO),
        (subprocess.check_output, "subprocess.check_output", _IO),
        (os.popen, "os.popen", _IO),
        *[
            (getattr(Path, name), f"pathlib.Path.{name}", _IO)
            for name in ["open", "read_text", "read_bytes", "write_text", "write_bytes", "exists"]
        ],
    ]
}
"""Python functions workflow code may not call."""

_STDLIB = os.path.abspath(sysconfig.get_paths()["stdlib"])
_LIBRARIES = tuple(
    {os.path.abspath(p) for key in ("purelib", "platlib") if (p := sysconfig.get_paths()[key])}
)
_TURNOUT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_SCENARIOS = (
    os.path.join(_TURNOUT, "testing", "contract", "workflows"),
    os.path.join(_TURNOUT, "testing", "contract", "corpus") + os.sep,
)
"""The contract suite's scenario workflows and its samples corpus: workflow code, though
turnout ships them."""

_kinds: dict[str, str] = {}
"""Each source file's kind, once worked out: "workflow", "library" or "package"."""


def _kind(filename: str) -> str:
    kind = _kinds.get(filename)
    if kind is None:
        path = os.path.abspath(filename)
        if path.startswith(_SCENARIOS):
            kind = "workflow"
        elif path.startswith(_TURNOUT) or filename.startswith("<"):
            kind = "library"
        elif path.startswith(_LIBRARIES):
            kind = "package"  # installed: workflow code only if it is the workflow's own
        elif path.startswith(_STDLIB):
            kind = "library"
        else:
            kind = "workflow"
        _kinds[filename] = kind
    return kind


def _is_workflow_code(frame: FrameType | None, home: str) -> bool:
    if frame is None:
        return False
    kind = _kind(frame.f_code.co_filename)
    if kind == "package":
        module = str(frame.f_globals.get("__name__", ""))
        return module == home or module.startswith(home + ".")
    return kind == "workflow"


def _first_outside_stdlib(frame: FrameType | None) -> FrameType | None:
    """The frame that called into the standard library (the ``random`` module's Python
    functions reach the global instance's C methods from inside it)."""
    while frame is not None and _kind(frame.f_code.co_filename) == "library":
        if frame.f_code.co_filename.startswith(_TURNOUT):
            return frame
        frame = frame.f_back
    return frame


def _refuse(name: str, how: str) -> RestrictedWorkflowAccessError:
    return RestrictedWorkflowAccessError(
        f"{name}() is not allowed in workflow code, whose calls must give the same answer "
        f"when the run is replayed: {how} instead (or, for a call known to be "
        "deterministic, make it inside workflow.unsafe.sandbox_unrestricted())"
    )


def guard_for(workflow_class: type) -> Profile | None:
    """The profile function that guards ``workflow_class``'s code, or None when the class
    is declared ``sandboxed=False``."""
    if not getattr(workflow_class, "__turnout_sandboxed__", True):
        return None
    module = workflow_class.__module__
    home = module if module.startswith("turnout.") else module.partition(".")[0]

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        caller: FrameType | None = frame
        if event == "c_call":
            try:
                found = _BUILTIN_CALLS.get(arg)
            except TypeError:  # a method bound to an unhashable object
                return
            if found is None and arg in _RANDOM_METHODS:
                caller = _first_outside_stdlib(frame)
                found = (f"random.{_random_name(frame, arg)}", _RANDOM)
            if found is None:
                return
        elif event == "call":
            found = _PYTHON_CALLS.get(frame.f_code)
            if found is None:
                return
            caller = frame.f_back
        else:
            return
        if _is_workflow_code(caller, home) and not unsafe.is_sandbox_unrestricted():
            raise _refuse(*found)

    return profile


def _random_name(frame: FrameType, method: Any) -> str:
    """The ``random`` function workflow code called: the outermost of the module's frames
    (``randint`` rather than the ``getrandbits`` it calls), or the C method itself."""
    name = str(getattr(method, "__name__", "random"))
    here: FrameType | None = frame
    while here is not None and here.f_code.co_filename == random.__file__:
        name = here.f_code.co_name
        here = here.f_back
    return name


def unguarded_methods(cls: type[T]) -> type[T]:
    """Class decorator: each public plain method of ``cls`` runs without the thread's
    profile function. For the runtime behind ``workflow.*``: turnout's own work inside a
    step of workflow code is not workflow code, and the guard would cost on every call
    it makes."""
    for name, method in list(vars(cls).items()):
        if name.startswith("_") or not inspect.isfunction(method):
            continue
        if inspect.iscoroutinefunction(method):
            continue  # its body runs later, in the step that awaits it
        setattr(cls, name, _unprofiled(method))
    return cls


def _unprofiled(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> Any:
        profile = sys.getprofile()
        if profile is None:
            return method(*args, **kwargs)
        sys.setprofile(None)
        try:
            return method(*args, **kwargs)
        finally:
            sys.setprofile(profile)

    return call


def run_guarded(profile: Profile | None, call: Callable[[], Any]) -> Any:
    """``call()`` with ``profile`` watching it (the thread's own profile function, if any,
    is put back after)."""
    if profile is None:
        return call()
    previous = sys.getprofile()
    sys.setprofile(profile)
    try:
        return call()
    finally:
        sys.setprofile(previous)
