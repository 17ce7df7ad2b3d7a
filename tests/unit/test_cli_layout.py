"""The ``turnout`` command's package: explicit registration, no import cycle."""

from __future__ import annotations

import ast
from pathlib import Path

import click

import turnout.cli
from turnout.cli import COMMAND_MODULES, cli

PACKAGE = Path(turnout.cli.__file__).parent
SHARED = {"_context", "_errors", "_modules", "_output"}


def _imported(path: Path) -> set[str]:
    """The ``turnout.cli`` modules ``path`` imports (``from turnout.cli import x`` included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("turnout.cli"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "turnout.cli":
                found.update(f"turnout.cli.{a.name}" for a in node.names)
            elif node.module.startswith("turnout.cli."):
                found.add(node.module)
    return found


def test_no_module_of_the_package_imports_the_group() -> None:
    """Commands register on the group they are given; nothing imports ``turnout.cli``."""
    for path in PACKAGE.glob("_*.py"):
        imported = _imported(path)
        assert "turnout.cli.cli" not in imported, path.name
        assert "turnout.cli.main" not in imported, path.name


def test_the_shared_helpers_import_no_command_module() -> None:
    for name in SHARED:
        imported = {m.rpartition(".")[2] for m in _imported(PACKAGE / f"{name}.py")}
        assert imported <= SHARED, (name, sorted(imported - SHARED))


def test_every_command_module_is_registered() -> None:
    """A module with a ``register`` function is in COMMAND_MODULES, and only those are."""
    with_register = {
        path.stem
        for path in PACKAGE.glob("_*.py")
        if any(
            isinstance(node, ast.FunctionDef) and node.name == "register"
            for node in ast.parse(path.read_text()).body
        )
    }
    assert {m.__name__.rpartition(".")[2] for m in COMMAND_MODULES} == with_register


def test_each_module_registers_its_own_commands() -> None:
    """Every command of ``turnout`` comes from one of the registered modules."""
    modules = {m.__name__ for m in COMMAND_MODULES}
    for name, command in cli.commands.items():
        assert isinstance(command, click.Command)
        assert command.callback is not None, name
        assert command.callback.__module__ in modules, name
