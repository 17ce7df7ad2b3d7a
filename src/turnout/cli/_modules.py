"""Importing the user's modules (``turnout worker shop``), with failures that say where.

A module that is not there, a file path given for a module name (``shop.py``), and a
module that fails while it is imported (an ``import requestz`` inside it, a syntax
error) are each one line naming the module, the file and line that failed, and the fix.
"""

from __future__ import annotations

import importlib
import linecache
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from turnout.cli._errors import BadInput

__all__ = ["import_modules"]


def import_modules(targets: Sequence[str]) -> None:
    """Import the module of each ``MODULE[:ATTR]`` target from the current directory (as
    ``python -m`` does) or PYTHONPATH; :class:`BadInput` saying what failed otherwise."""
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    for target in targets:
        name = target.partition(":")[0]
        if name.endswith(".py") or "/" in name or os.sep in name:
            raise BadInput(
                f"{target!r} is a file path; name its module instead: "
                f"{_module_name(name)!r} (run turnout from the directory that holds it, "
                "or add that directory to PYTHONPATH)"
            )
        if not name:
            continue  # load_definitions says what a target needs
        try:
            importlib.import_module(name)
        except Exception as exc:
            raise BadInput(_why(name, exc)) from None


def _module_name(path: str) -> str:
    """The module a file path names, relative to the current directory when inside it."""
    file = Path(path)
    if file.is_absolute():
        try:
            file = file.relative_to(Path.cwd())
        except ValueError:
            return file.stem
    parts = [p for p in file.with_suffix("").parts if p not in {".", ""}]
    return ".".join(parts) if parts and ".." not in parts else file.stem


def _why(name: str, exc: Exception) -> str:
    """One line: the module that did not import, where it failed, and what to do."""
    missing = getattr(exc, "name", None)
    if isinstance(exc, ModuleNotFoundError) and missing and (name + ".").startswith(missing + "."):
        return (
            f"no module named {name!r} in {os.getcwd()} or on PYTHONPATH: run turnout from "
            "the directory that holds it, or add that directory to PYTHONPATH"
        )
    failed = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, SyntaxError) and exc.filename:
        where = _place(exc.filename, exc.lineno or 0, exc.text or "")
        return f"module {name!r} does not import: {where}: {exc.msg}; fix that line"
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if _users(f.filename)]
    if not frames:
        return f"module {name!r} does not import: {failed}"
    *outer, last = frames
    where = _place(last.filename, last.lineno or 0, last.line or "")
    chain = ", ".join(f"{_short(f.filename)} line {f.lineno}" for f in outer)
    through = f" (imported through {chain})" if outer else ""
    fix = (
        f"is {missing!r} installed in this environment, and spelled right?"
        if isinstance(exc, ModuleNotFoundError) and missing
        else "fix that line"
    )
    return f"module {name!r} does not import: {where} raised {failed}{through}; {fix}"


_NOT_USERS = (
    str(Path(__file__).resolve().parents[1]),  # turnout
    str(Path(importlib.__file__).resolve().parent),  # importlib
)


def _users(filename: str) -> bool:
    """Whether a frame is the user's code (not importlib's, not turnout's)."""
    return not filename.startswith("<") and not str(Path(filename).resolve()).startswith(_NOT_USERS)


def _short(filename: str) -> str:
    """``filename`` relative to the current directory when inside it."""
    try:
        return str(Path(filename).resolve().relative_to(Path.cwd()))
    except ValueError:
        return filename


def _place(filename: str, line: int, text: str) -> str:
    """``file.py line N ("the source")``."""
    source = (text or linecache.getline(filename, line)).strip()
    return f"{_short(filename)} line {line}" + (f" ({source!r})" if source else "")
