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
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import inspect
import os
import re
import shlex
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import click
import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [*sorted(ROOT.glob("docs/*.md")), ROOT / "README.md"]

BACKENDS = ("sqlite", "postgres", "temporal")
SHELL_LANGUAGES = {"bash", "sh", "shell", "console", "zsh"}
TIMEOUT = 60.0
"""Seconds a block's ``main()`` may take."""

# Blocks in pages this test does not own that fail under the convention above, with why.
# Keys are (page, n): the n-th ```python block of the page, from 1. Each is an expected
# failure (strict: once the page is fixed, the entry must go). Entries shorten the timeout.
KNOWN_BROKEN: dict[tuple[str, int], str] = {}
KNOWN_BROKEN_TIMEOUT = 10.0

_MARKER = re.compile(r"^\s*<!--\s*(fragment|needs|file)\b\s*:?\s*(.*?)\s*-->\s*$")
_FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([\w+-]*)[^`]*$")
_TEST_KIT_ENV = {
    "TURNOUT_TEST_DATABASE_URL",
    "TURNOUT_TEST_TEMPORAL_ADDRESS",
    "TURNOUT_REQUIRE_POSTGRES",
    "TURNOUT_REQUIRE_TEMPORAL",
    "TURNOUT_HARD_EXIT",
}


@dataclass(frozen=True)
class Block:
    """One fenced code block of a page."""

    page: str
    """Path relative to the repository root."""
    line: int
    """Line of the opening fence, from 1."""
    language: str
    code: str
    markers: dict[str, str] = field(default_factory=dict)
    ordinal: int = 0
    """Position among the page's blocks of the same language, from 1."""

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"

    @property
    def fragment(self) -> bool:
        return "fragment" in self.markers

    @property
    def backends(self) -> list[str]:
        raw = self.markers.get("needs", "sqlite")
        return [b.strip() for b in raw.split(",") if b.strip()]

    @property
    def file(self) -> str | None:
        return self.markers.get("file")


def _markers(lines: list[str], fence_index: int, where: str) -> dict[str, str]:
    markers: dict[str, str] = {}
    i = fence_index - 1
    while i >= 0 and lines[i].strip().startswith("<!--"):
        match = _MARKER.match(lines[i])
        if match is not None:
            markers[match.group(1)] = match.group(2)
        i -= 1
    if markers.get("fragment"):
        raise ValueError(f"{where}: <!-- fragment --> takes no value")
    for backend in markers.get("needs", "sqlite").split(","):
        if backend.strip() not in BACKENDS:
            raise ValueError(
                f"{where}: <!-- needs: ... --> names {backend!r}, not one of {BACKENDS}"
            )
    name = markers.get("file")
    if name is not None and (not name or "/" in name or name.startswith(".")):
        raise ValueError(f"{where}: <!-- file: NAME --> needs a plain file name, got {name!r}")
    return markers


def parse_blocks(page: Path) -> list[Block]:
    """The fenced blocks of a Markdown page, with their markers."""
    lines = page.read_text(encoding="utf-8").splitlines()
    relative = page.relative_to(ROOT).as_posix()
    blocks: list[Block] = []
    counts: dict[str, int] = {}
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        indent, fence, language = opening.groups()
        body: list[str] = []
        j = i + 1
        while j < len(lines):
            stripped = lines[j].strip()
            if stripped.startswith(fence[0] * len(fence)) and set(stripped) == {fence[0]}:
                break
            body.append(lines[j][len(indent) :] if lines[j].startswith(indent) else lines[j])
            j += 1
        language = language.lower()
        counts[language] = counts.get(language, 0) + 1
        blocks.append(
            Block(
                page=relative,
                line=i + 1,
                language=language,
                code="\n".join(body) + "\n",
                markers=_markers(lines, i, f"{relative}:{i + 1}"),
                ordinal=counts[language],
            )
        )
        i = j + 1
    return blocks


ALL_BLOCKS = [block for page in PAGES for block in parse_blocks(page)]
PYTHON_BLOCKS = [b for b in ALL_BLOCKS if b.language in {"python", "py"}]
SHELL_BLOCKS = [b for b in ALL_BLOCKS if b.language in SHELL_LANGUAGES]
TOML_BLOCKS = [b for b in ALL_BLOCKS if b.language == "toml"]
SQL_BLOCKS = [b for b in ALL_BLOCKS if b.language == "sql"]


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


# --------------------------------------------------------------------------- shell blocks


def _commands(code: str) -> Iterator[list[str]]:
    """Each simple command of a shell block as a list of words (env assignments kept)."""
    joined = re.sub(r"\\\n", " ", code)
    for raw in joined.splitlines():
        line = raw.strip()
        if line.startswith("$ "):
            line = line[2:]
        if not line or line.startswith("#"):
            continue
        lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|<>()")
        lexer.whitespace_split = True
        lexer.commenters = "#"
        try:
            words = list(lexer)
        except ValueError as exc:
            raise AssertionError(f"cannot parse shell line {line!r}: {exc}") from exc
        command: list[str] = []
        for word in [*words, ";"]:
            if word and set(word) <= set(";&|<>()"):
                if command:
                    yield command
                command = []
                continue
            command.append(word)


def _turnout_argv(words: list[str]) -> list[str] | None:
    """The arguments after ``turnout`` (or ``python -m turnout``), or None for another command."""
    i = 0
    while i < len(words) and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[i]):
        i += 1
    if i < len(words) and words[i] in {"export", "env"}:
        return None
    rest = words[i:]
    if rest and Path(rest[0]).name == "turnout":
        return rest[1:]
    if (
        len(rest) >= 3
        and Path(rest[0]).name.startswith("python")
        and rest[1:3] == ["-m", "turnout"]
    ):
        return rest[3:]
    return None


def _assignments(words: list[str]) -> list[str]:
    """Variables a command sets: ``A=1 cmd``, ``export A=1``, ``env A=1 cmd``."""
    names = []
    for word in words:
        match = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)=", word)
        if match:
            names.append(match.group(1))
        elif word not in {"export", "env"}:
            break
    return names


def check_turnout_command(argv: list[str]) -> None:
    """Parse ``argv`` with the real CLI (without running it): unknown commands, options,
    choices or missing required values raise click errors."""
    from turnout.cli import cli

    def parse(command: click.Command, args: list[str], parent: click.Context | None) -> None:
        name = "turnout" if parent is None else command.name or ""
        try:
            ctx = command.make_context(name, list(args), parent=parent)
        except click.exceptions.Exit as done:  # --help, --version
            if done.exit_code != 0:
                raise click.ClickException(f"exit code {done.exit_code}") from done
            return
        if isinstance(command, click.Group):
            rest = [*getattr(ctx, "_protected_args", ()), *ctx.args]
            assert rest, f"`turnout {' '.join(argv)}` names no command of {name!r}"
            _, sub, sub_args = command.resolve_command(ctx, rest)
            assert sub is not None
            parse(sub, sub_args, ctx)

    # File-typed options open their file while parsing: let them read stdin instead.
    for sub in _walk(cli):
        for param in sub.params:
            if isinstance(param.type, click.File):
                for opt in param.opts:
                    argv = ["-" if i and argv[i - 1] == opt else a for i, a in enumerate(argv)]
    with contextlib.redirect_stdout(None), contextlib.redirect_stderr(None):
        parse(cli, argv, None)


def _walk(command: click.Command) -> Iterator[click.Command]:
    yield command
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            yield from _walk(sub)


def _known_env() -> set[str]:
    from turnout.config import Settings

    return {f"TURNOUT_{name.upper()}" for name in Settings.model_fields} | _TEST_KIT_ENV


@pytest.mark.parametrize("block", SHELL_BLOCKS, ids=[b.where for b in SHELL_BLOCKS])
def test_shell_block(block: Block) -> None:
    """Every turnout command of the block parses; variables and executor kinds exist."""
    from turnout.testing.harness import EXECUTOR_KINDS

    for words in _commands(block.code):
        for name in _assignments(words):
            if name.startswith("TURNOUT_"):
                assert name in _known_env(), f"{block.where}: unknown setting {name}"
        for word in words:
            if word.startswith("--turnout-executors="):
                kinds = word.partition("=")[2].split(",")
                assert set(kinds) <= set(EXECUTOR_KINDS), f"{block.where}: {word}"
        argv = _turnout_argv(words)
        if argv is None:
            continue
        try:
            check_turnout_command(argv)
        except click.ClickException as exc:
            pytest.fail(f"{block.where}: `turnout {shlex.join(argv)}`: {exc.format_message()}")


def test_the_checker_refuses_what_the_cli_refuses() -> None:
    """The shell check is not vacuous: it catches commands, options and values that are gone."""
    check_turnout_command(["worker", "app.workflows", "-q", "shop", "--concurrency", "4"])
    check_turnout_command(["--executor", "temporal", "schema", "show", "--dialect", "sqlite"])
    check_turnout_command(["replay", "-m", "app", "--from-file", "history.jsonl"])
    for argv in (
        ["frobnicate"],
        ["worker", "app.workflows"],  # --task-queue is required
        ["start", "Greet", "-q", "x", "--no-such-option"],
        ["list", "--state", "sleeping"],
        ["schema", "drop"],
    ):
        with pytest.raises(click.ClickException):
            check_turnout_command(argv)
    assert _turnout_argv(["PYTHONPATH=.", "turnout", "demo"]) == ["demo"]
    assert _turnout_argv(["python", "-m", "turnout", "doctor"]) == ["doctor"]
    assert list(_commands("turnout worker a -q b &\nturnout start X -q b --wait  # go\n")) == [
        ["turnout", "worker", "a", "-q", "b"],
        ["turnout", "start", "X", "-q", "b", "--wait"],
    ]


# --------------------------------------------------------------------------- toml blocks


@pytest.mark.parametrize("block", TOML_BLOCKS, ids=[b.where for b in TOML_BLOCKS])
def test_toml_block(block: Block, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A ``[tool.turnout]`` table holds settings turnout accepts."""
    from turnout.config import Settings, load_settings

    table = tomllib.loads(block.code).get("tool", {}).get("turnout")
    if table is None:
        return
    unknown = set(table) - set(Settings.model_fields)
    assert not unknown, f"{block.where}: unknown [tool.turnout] keys {sorted(unknown)}"
    for name in Settings.model_fields:
        monkeypatch.delenv(f"TURNOUT_{name.upper()}", raising=False)
    monkeypatch.chdir(tmp_path)
    load_settings(**table)


# --------------------------------------------------------------------------- sql blocks


def _sql_cases() -> Iterator[object]:
    for block in SQL_BLOCKS:
        if block.fragment:
            continue
        for backend in block.backends:
            if backend == "temporal":
                raise ValueError(f"{block.where}: SQL runs on sqlite or postgres, not temporal")
            yield pytest.param(block, backend, id=f"{block.where}-{backend}")


@pytest.mark.parametrize(("block", "backend"), list(_sql_cases()))
def test_sql_block(
    block: Block, backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Each statement runs on a fresh database with the current schema."""
    from sqlalchemy import text

    from turnout.executors.internal.migrate import create_schema, make_engine

    url = (
        str(request.getfixturevalue("postgres_url"))
        if backend == "postgres"
        else f"sqlite:///{(tmp_path / 'turnout.db').as_posix()}"
    )
    create_schema(url)
    statements = [s for s in block.code.split(";") if re.sub(r"--[^\n]*", "", s).strip()]
    assert statements, f"{block.where}: no SQL statement"
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            for statement in statements:
                conn.execute(text(statement)).fetchall()
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- links


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", ""))
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    anchors: set[str] = set()
    in_fence = False
    for line in page.read_text(encoding="utf-8").splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
        elif not in_fence and (heading := re.match(r"^#{1,6}\s+(.*)$", line)):
            anchors.add(_slug(heading.group(1)))
    return anchors


def _links() -> Iterator[object]:
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"^[a-z]+:", target):
                continue
            yield pytest.param(page, target, id=f"{page.relative_to(ROOT).as_posix()}->{target}")


def test_slugs_follow_github() -> None:
    assert (
        _slug("Checking a deploy with `turnout replay`") == "checking-a-deploy-with-turnout-replay"
    )
    assert _slug("Leases, timeouts and the reaper") == "leases-timeouts-and-the-reaper"
    assert _slug("1. Install the Temporal extra") == "1-install-the-temporal-extra"


@pytest.mark.parametrize(("page", "target"), list(_links()))
def test_link(page: Path, target: str) -> None:
    """A relative link names an existing file, and an existing heading of it."""
    path, _, anchor = target.partition("#")
    file = (page.parent / path).resolve() if path else page
    assert file.exists(), f"{page.name}: {target}: no such file"
    if anchor and file.suffix == ".md":
        assert anchor in _anchors(file), f"{page.name}: {target}: no such heading in {file.name}"
