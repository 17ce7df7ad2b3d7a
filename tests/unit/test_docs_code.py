"""Every code block of the documentation runs, so the docs cannot drift from the code.

Collected from ``docs/*.md`` and ``README.md``. What happens to a fenced block
depends on its language and on HTML comments on the lines right above its
opening fence (invisible on GitHub, visible in the Markdown source):

``python`` blocks
    Each block is written to a module file in a fresh working directory and
    imported, so the Temporal sandbox can re-import it by name. When the module
    defines ``async def main()``, the test runs ``asyncio.run(main())`` (an
    ``if __name__ == "__main__":`` guard in the block does not fire). Settings
    come from the environment the test sets: by default the internal executor
    on a temporary SQLite file (``TURNOUT_DATABASE_URL``), every other
    ``TURNOUT_*`` setting unset.

    ``<!-- fragment -->``
        A deliberately incomplete block: only compiled, never run.
    ``<!-- needs: postgres -->``, ``<!-- needs: temporal -->``
        Run against a real server from the plugin's ``postgres_url`` /
        ``temporal_address`` fixtures (``TURNOUT_DATABASE_URL``, or
        ``TURNOUT_EXECUTOR=temporal`` and ``TURNOUT_TEMPORAL_ADDRESS``) instead of
        SQLite. A comma-separated list (``<!-- needs: sqlite, temporal -->``)
        runs the block once on each.
    ``<!-- file: greetings.py -->``
        The block is that file of the page's example project: it is written to
        the working directory before any block of the same page runs, so later
        blocks can import it.

``bash`` (and ``sh``, ``shell``, ``console``) blocks
    Not run. Every ``turnout ...`` (or ``python -m turnout ...``) command in
    them is parsed by the real command-line interface, so a command, option or
    choice that no longer exists fails; ``TURNOUT_*`` variables they set must be
    settings or test-kit variables; ``--turnout-executors`` values must be
    executor kinds.

``toml`` blocks
    A ``[tool.turnout]`` table must hold valid settings.

Links
    Relative links between the pages must name files that exist and headings they have.

``sql`` blocks
    Run, statement by statement, on a fresh database with turnout's schema: SQLite,
    or the backends a ``<!-- needs: ... -->`` marker names.

A block that fails in a page this test does not own is listed in ``KNOWN_BROKEN``
with the reason: it runs in a subprocess (so a hang or a leaked connection stays
there) as a strict expected failure, which turns into an error once the page is fixed.

This module runs the ``python`` blocks; test_docs_shell.py checks the shell blocks,
test_docs_toml_sql.py the ``toml`` and ``sql`` blocks, test_docs_links.py the links.
The blocks are parsed by docs_blocks.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import inspect
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit.docs_blocks import ALL_BLOCKS, PYTHON_BLOCKS, Block

TIMEOUT = 60.0
"""Seconds a block's ``main()`` may take."""

# Blocks in pages this test does not own that fail under the convention above, with why.
# Keys are (page, n): the n-th ```python block of the page, from 1. Each is an expected
# failure (strict: once the page is fixed, the entry must go). Entries shorten the timeout.
KNOWN_BROKEN: dict[tuple[str, int], str] = {}
KNOWN_BROKEN_TIMEOUT = 10.0


def _python_cases() -> Iterator[object]:
    for block in PYTHON_BLOCKS:
        broken = KNOWN_BROKEN.get((block.page, block.ordinal))
        marks = [pytest.mark.xfail(reason=broken, strict=True)] if broken else []
        if block.fragment:
            yield pytest.param(block, None, id=f"{block.where}-fragment", marks=marks)
            continue
        for backend in block.backends:
            yield pytest.param(block, backend, id=f"{block.where}-{backend}", marks=marks)


# --------------------------------------------------------------------------- python blocks


def _module_name(block: Block) -> str:
    if block.file is not None:
        return Path(block.file).stem
    stem = re.sub(r"\W", "_", Path(block.page).stem)
    return f"_doc_{stem}_{block.line}"


@contextlib.contextmanager
def _isolated(workdir: Path) -> Iterator[None]:
    """Run with ``workdir`` as cwd and first on sys.path; restore environment and modules."""
    saved_env = dict(os.environ)
    saved_cwd = Path.cwd()
    saved_modules = set(sys.modules)
    sys.path.insert(0, str(workdir))
    os.chdir(workdir)
    try:
        yield
    finally:
        os.chdir(saved_cwd)
        with contextlib.suppress(ValueError):
            sys.path.remove(str(workdir))
        for name in set(sys.modules) - saved_modules:
            origin = getattr(sys.modules[name], "__file__", None) or ""
            if origin.startswith(str(workdir)):
                del sys.modules[name]
        importlib.invalidate_caches()
        os.environ.clear()
        os.environ.update(saved_env)


def _settings_env(backend: str, request: pytest.FixtureRequest, workdir: Path) -> dict[str, str]:
    """The ``TURNOUT_*`` settings a block runs with (every other setting unset)."""
    env = {"TURNOUT_DATABASE_URL": f"sqlite:///{(workdir / 'turnout.db').as_posix()}"}
    if backend == "postgres":
        env["TURNOUT_DATABASE_URL"] = str(request.getfixturevalue("postgres_url"))
    elif backend == "temporal":
        env["TURNOUT_EXECUTOR"] = "temporal"
        env["TURNOUT_TEMPORAL_ADDRESS"] = str(request.getfixturevalue("temporal_address"))
    return env


def _without_settings(environ: dict[str, str]) -> dict[str, str]:
    from turnout.config import Settings

    names = {f"TURNOUT_{name.upper()}" for name in Settings.model_fields}
    return {k: v for k, v in environ.items() if k not in names}


_RUNNER = """
import asyncio, importlib, sys
sys.path.insert(0, ".")
main = getattr(importlib.import_module(sys.argv[1]), "main", None)
if main is not None:
    asyncio.run(asyncio.wait_for(main(), float(sys.argv[2])))
"""


def _run_in_process(block: Block, name: str, timeout: float) -> None:
    module = importlib.import_module(name)
    main = getattr(module, "main", None)
    if main is None:
        return
    assert inspect.iscoroutinefunction(main), f"{block.where}: main must be `async def`"
    try:
        asyncio.run(asyncio.wait_for(main(), timeout))
    except TimeoutError:
        pytest.fail(f"{block.where}: main() did not finish within {timeout:.0f} s")
    finally:
        gc.collect()  # an unclosed client or connection warns here, in this test


def _run_in_subprocess(block: Block, name: str, timeout: float, workdir: Path) -> None:
    """For known-broken blocks, whose failures (hangs, leaked connections) must not
    reach the other tests of the session."""
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", _RUNNER, name, str(timeout)],
        cwd=workdir,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=timeout + 30,
    )
    assert done.returncode == 0, f"{block.where}: exit code {done.returncode}\n{done.stderr}"
    assert "Exception ignored" not in done.stderr, f"{block.where}:\n{done.stderr}"


@pytest.mark.parametrize(("block", "backend"), list(_python_cases()))
def test_python_block(
    block: Block, backend: str | None, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Compile a fragment; import (and run the ``main()`` of) any other block."""
    compile(block.code, block.where, "exec")  # a syntax error names the page and line
    if backend is None:
        return
    for other in PYTHON_BLOCKS:
        if other.page == block.page and other.file is not None:
            (tmp_path / other.file).write_text(other.code, encoding="utf-8")
    name = _module_name(block)
    (tmp_path / f"{name}.py").write_text(block.code, encoding="utf-8")
    env = _settings_env(backend, request, tmp_path)
    with _isolated(tmp_path):
        clean = {**_without_settings(dict(os.environ)), **env}
        os.environ.clear()
        os.environ.update(clean)
        if (block.page, block.ordinal) in KNOWN_BROKEN:
            _run_in_subprocess(block, name, KNOWN_BROKEN_TIMEOUT, tmp_path)
        else:
            _run_in_process(block, name, TIMEOUT)


def test_block_markers_are_consistent() -> None:
    """File names are unique per page and named files are runnable Python."""
    seen: dict[tuple[str, str], str] = {}
    for block in ALL_BLOCKS:
        if block.file is None:
            continue
        key = (block.page, block.file)
        assert key not in seen, f"{block.where}: file {block.file} also at {seen[key]}"
        seen[key] = block.where
        if block.language in {"python", "py"}:
            assert block.file.endswith(".py"), f"{block.where}: a Python file ends in .py"
            assert not block.fragment, f"{block.where}: a file block cannot be a fragment"


def test_known_broken_entries_exist() -> None:
    """Every KNOWN_BROKEN entry names a block that exists."""
    present = {(b.page, b.ordinal) for b in PYTHON_BLOCKS}
    assert set(KNOWN_BROKEN) <= present, sorted(set(KNOWN_BROKEN) - present)
