"""Claims of the documentation that the code can refute: the extras the quickstart lists
against pyproject.toml, the ``turnout`` commands the pages name against the command line,
and the README's links to every page of docs/."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator

import click
import pytest

from tests.unit.docs_blocks import FENCE, PAGES, ROOT
from turnout.cli import cli

_SPAN = re.compile(r"`([^`\n]+)`")
_COMMAND = re.compile(r"(?<![\w.])(?<!from )(?<!import )turnout ([a-z][a-z-]*)(?: ([a-z][a-z-]*))?")


def _prose(text: str) -> str:
    """A page without its fenced blocks (test_docs_shell.py parses those)."""
    kept, in_fence = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            in_fence = not in_fence
        elif not in_fence:
            kept.append(line)
    return "\n".join(kept)


def _named_commands() -> Iterator[object]:
    """Each ``turnout COMMAND [SUBCOMMAND]`` of an inline code span, with its page."""
    for page in PAGES:
        seen = set()
        for span in _SPAN.findall(_prose(page.read_text(encoding="utf-8"))):
            for found in _COMMAND.finditer(span):
                if found.group(0) not in seen:
                    seen.add(found.group(0))
                    name = f"{page.relative_to(ROOT).as_posix()}:{found.group(0)}"
                    yield pytest.param(found.group(1), found.group(2), id=name)


def missing_command(command: str, sub: str | None) -> str | None:
    """What of ``turnout command sub`` the command line lacks, or None."""
    found = cli.commands.get(command)
    if found is None:
        return f"`turnout {command}`: no such command (the CLI has {sorted(cli.commands)})"
    if isinstance(found, click.Group) and sub is not None and sub not in found.commands:
        return f"`turnout {command} {sub}`: {command} has only {sorted(found.commands)}"
    return None


@pytest.mark.parametrize(("command", "sub"), list(_named_commands()))
def test_a_command_the_docs_name_exists(command: str, sub: str | None) -> None:
    assert missing_command(command, sub) is None, missing_command(command, sub)


def test_the_command_checker_refuses_what_is_not_there() -> None:
    assert missing_command("worker", "app") is None  # an argument, not a subcommand
    assert missing_command("schema", "create") is None
    assert missing_command("wrokers", None) is not None
    assert missing_command("schema", "drop") is not None
    assert [m.group(1, 2) for m in _COMMAND.finditer("turnout token create --tenant t")] == [
        ("token", "create")
    ]
    assert not list(_COMMAND.finditer("from turnout import workflow"))


def test_the_index_lists_every_command() -> None:
    """docs/index.md's `turnout --help` row names each command of the CLI, and no other."""
    row = next(
        line
        for line in (ROOT / "docs/index.md").read_text(encoding="utf-8").splitlines()
        if line.startswith("| `turnout --help` |")
    )
    listed = [name for name in _SPAN.findall(row.split("|")[2]) if not name.startswith("-")]
    assert sorted(listed) == sorted(cli.commands)


def _extras_table() -> dict[str, str]:
    """The quickstart's extras table: extra -> what it adds."""
    text = (ROOT / "docs/quickstart.md").read_text(encoding="utf-8")
    lines = text.split("| Extra | Adds | You need it for |", 1)[1].splitlines()[2:]
    rows: dict[str, str] = {}
    for line in lines:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        rows[cells[0].strip("`")] = cells[1]
    return rows


def test_the_quickstart_lists_every_extra_of_pyproject() -> None:
    """One row per extra of pyproject.toml (and one for none); each row names the
    distributions its extra adds, but for dev's long list."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras: dict[str, list[str]] = project["optional-dependencies"]
    rows = _extras_table()
    assert sorted(rows) == sorted(["none", *extras])
    for extra, requirements in extras.items():
        if extra == "dev":
            continue
        for requirement in requirements:
            name = re.split(r"[\[<>=~!; ]", requirement, maxsplit=1)[0]
            assert name in rows[extra], f"the {extra} row does not name {name}"


def test_the_readme_links_every_page_of_docs() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    linked = set(re.findall(r"\]\((docs/[^)#\s]+\.md)", readme))
    pages = {f"docs/{page.name}" for page in sorted(ROOT.glob("docs/*.md"))}
    assert sorted(pages - linked) == []
