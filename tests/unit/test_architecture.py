"""The map of docs/architecture.md, enforced: which room may import which.

A room is a top-level module or package of turnout (``executors`` counts as two rooms,
``executors.internal`` and ``executors.temporal``). Every import of one room by another,
at module level or inside a function, must be one the map allows.
"""

from __future__ import annotations

import ast
from pathlib import Path

import turnout

SRC = Path(turnout.__file__).parent
DOC = Path(__file__).resolve().parents[2] / "docs" / "architecture.md"

BOTH_EXECUTORS = {"executors.internal", "executors.temporal"}
ALLOWED: dict[str, set[str]] = {
    "contracts": set(),
    "executors": set(),  # the package itself: executors/__init__.py
    "config": {"contracts"},
    "workflows": {"contracts"},
    "observability": {"contracts", "workflows"},
    "executors.internal": {"contracts", "workflows", "observability"},
    "executors.temporal": {"contracts", "workflows", "observability", "config"},
    "_connect": {"contracts", "workflows", "config", "contrib", *BOTH_EXECUTORS},
    # temporalio's module layout: client, worker, common, exceptions, contrib.pydantic
    "client": {"contracts", "_connect"},
    "converter": {"contracts"},
    "worker": {"contracts", "_connect", "replay"},
    "common": {"contracts"},
    "exceptions": {"contracts"},
    "contrib": set(),
    "turnout": {"contracts", "workflows", "workflow", "activity", "_connect"},
    # temporalio's authoring modules: turnout.workflow and turnout.activity re-export
    "workflow": {"workflows"},
    "activity": {"workflows"},
    "replay": {"contracts", "workflows", *BOTH_EXECUTORS},
    "_discovery": {"contracts", "workflows"},
    "http": {"contracts", "config", "observability", "turnout", "_connect"},
    "cli": {
        "contracts",
        "workflows",
        "config",
        "observability",
        "http",
        "turnout",
        "_connect",
        "_discovery",
        "replay",
        *BOTH_EXECUTORS,
    },
    "__main__": {"cli"},
    "testing": {
        "workflow",
        "activity",
        "client",
        "worker",
        "common",
        "exceptions",
        "converter",
        "contrib",
        "contracts",
        "workflows",
        "config",
        "observability",
        "turnout",
        "_connect",
        "_discovery",
        "replay",
        *BOTH_EXECUTORS,
    },
}
"""Room -> the rooms it may import (docs/architecture.md, "The layers")."""


def _room(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "turnout":
        return None
    if len(parts) == 1:
        return "turnout"
    if parts[1] == "executors" and len(parts) > 2:
        return f"executors.{parts[2]}"
    return parts[1]


def _module_of(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _edges() -> dict[tuple[str, str], set[str]]:
    edges: dict[tuple[str, str], set[str]] = {}
    for path in SRC.rglob("*.py"):
        mine = _room(_module_of(path))
        assert mine is not None
        for name in _imports(path):
            theirs = _room(name)
            if theirs is not None and theirs != mine:
                edges.setdefault((mine, theirs), set()).add(path.relative_to(SRC).as_posix())
    return edges


def test_every_room_is_on_the_map() -> None:
    rooms = {_room(_module_of(p)) for p in SRC.rglob("*.py")}
    assert rooms <= set(ALLOWED), sorted(r for r in rooms if r not in ALLOWED)  # type: ignore[type-var]


def test_no_import_crosses_a_boundary_the_map_forbids() -> None:
    forbidden = {
        f"{mine} -> {theirs}": sorted(files)
        for (mine, theirs), files in _edges().items()
        if theirs not in ALLOWED[mine]
    }
    assert forbidden == {}


def test_the_executors_never_import_each_other() -> None:
    edges = _edges()
    assert ("executors.internal", "executors.temporal") not in edges
    assert ("executors.temporal", "executors.internal") not in edges


def test_the_worker_runners_import_neither_each_other_nor_the_loop() -> None:
    worker = SRC / "executors" / "internal" / "worker"
    runners = {"activities", "workflow_tasks", "admission", "outcomes", "slots"}
    for path in worker.glob("*.py"):
        if path.stem not in runners:
            continue
        imported = _imports(path)
        peers = {f"turnout.executors.internal.worker.{r}" for r in {"activities", "workflow_tasks"}}
        assert "turnout.executors.internal.worker.loop" not in imported, path.name
        assert not (imported & (peers - {f"turnout.executors.internal.worker.{path.stem}"})), (
            path.name
        )


def test_the_page_names_every_room() -> None:
    page = DOC.read_text()
    for room in ("contracts/", "config.py", "workflows/", "observability/", "http/", "cli/"):
        assert f"`{room}`" in page, room
    for room in ("executors/internal/", "executors/temporal/", "testing/"):
        assert f"`{room}`" in page, room


MAX_MODULE_LINES = 500
"""No module of the repository is longer (issue 21: split a long one along its seams)."""


def test_no_module_is_longer_than_500_lines() -> None:
    root = DOC.parents[1]
    sources = [
        *(p for d in ("src", "tests", "benchmarks", "examples") for p in (root / d).rglob("*.py")),
        *(root / "src").rglob("*.js"),
    ]
    assert sources
    too_long = {
        path.relative_to(root).as_posix(): lines
        for path in sources
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert too_long == {}, f"split these along their seams: {too_long}"
