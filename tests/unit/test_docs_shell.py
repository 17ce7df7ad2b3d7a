"""The shell blocks of the documentation: every ``turnout ...`` command parses.

Each ``turnout ...`` (or ``python -m turnout ...``) command in a ``bash``, ``sh``,
``shell``, ``console`` or ``zsh`` block is parsed by the real command-line interface;
``TURNOUT_*`` variables they set must be settings or test-kit variables (the
conventions are in test_docs_code.py).
"""

from __future__ import annotations

import contextlib
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from tests.unit.docs_blocks import SHELL_BLOCKS, Block

_TEST_KIT_ENV = {
    "TURNOUT_TEST_DATABASE_URL",
    "TURNOUT_TEST_TEMPORAL_ADDRESS",
    "TURNOUT_REQUIRE_POSTGRES",
    "TURNOUT_REQUIRE_TEMPORAL",
    "TURNOUT_HARD_EXIT",
}


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
