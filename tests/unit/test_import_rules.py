"""Architecture rules: temporalio stays behind the Temporal executor; turnout imports without it;
the HTTP API and observability reach executors only through the contracts; config holds no
SQLAlchemy and the internal store does not read config."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import turnout

SRC = Path(turnout.__file__).parent


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_temporalio_is_imported_only_under_executors_temporal() -> None:
    offenders = [
        str(path.relative_to(SRC))
        for path in SRC.rglob("*.py")
        if "executors/temporal" not in path.as_posix()
        and any(name.split(".")[0] == "temporalio" for name in _imports(path))
    ]
    assert offenders == []


def test_authoring_layer_imports_no_executor() -> None:
    for path in (SRC / "workflows").rglob("*.py"):
        imported = _imports(path)
        assert not any(name.startswith("turnout.executors") for name in imported), path


def _modules_under(*parts: str) -> list[Path]:
    return sorted(SRC.joinpath(*parts).rglob("*.py"))


def _offenders(paths: list[Path], forbidden: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in paths:
        bad = {
            name for name in _imports(path) if name == forbidden or name.startswith(forbidden + ".")
        }
        if bad:
            found[path.relative_to(SRC).as_posix()] = bad
    return found


def test_http_and_observability_import_no_executor() -> None:
    found = _offenders(
        _modules_under("http") + _modules_under("observability"), "turnout.executors"
    )
    assert found == {}


def test_http_and_observability_never_name_an_executor_in_a_branch() -> None:
    """Neither layer asks ``executor == "internal"``: clients declare capabilities instead."""
    for path in _modules_under("http") + _modules_under("observability"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Compare):
                names = [node.left, *node.comparators]
                constants = {n.value for n in names if isinstance(n, ast.Constant)}
                assert not constants & {"internal", "temporal"}, (path, node.lineno)


def test_config_holds_no_sqlalchemy() -> None:
    assert _offenders([SRC / "config.py"], "sqlalchemy") == {}


def test_the_internal_store_and_migrations_do_not_read_config() -> None:
    paths = [
        *_modules_under("executors", "internal", "store"),
        SRC / "executors/internal/migrate.py",
    ]
    assert _offenders(paths, "turnout.config") == {}


def test_observability_does_not_import_the_internal_commands() -> None:
    found = _offenders(_modules_under("observability"), "turnout.executors.internal.commands")
    assert found == {}


PROGRAM = """
import sys
sys.modules["temporalio"] = None  # as if the temporal extra were not installed
import asyncio
import turnout
from turnout import workflow, activity

@workflow.defn
class W:
    @workflow.run
    async def run(self) -> None: ...

try:
    asyncio.run(turnout.connect(executor="temporal"))
except turnout.ConfigurationError as exc:
    print("ConfigurationError:", exc)
"""


def test_turnout_works_without_the_temporal_extra() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROGRAM], capture_output=True, text=True, timeout=60, check=True
    )
    assert "ConfigurationError:" in out.stdout
    assert "pip install 'turnout[temporal]'" in out.stdout


def _imported_after(statement: str) -> list[str]:
    """The heavy modules a fresh interpreter holds after ``statement``, on Temporal."""
    program = (
        f"import sys; {statement}; "
        "print(','.join(m for m in ('sqlalchemy', 'pydantic_settings') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", program],
        env={**os.environ, "TURNOUT_EXECUTOR": "temporal"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return [name for name in done.stdout.strip().split(",") if name]


def test_importing_turnout_or_its_connect_loads_neither_sqlalchemy_nor_settings() -> None:
    """A Temporal-only program pays for neither the internal executor's SQLAlchemy nor,
    until it connects, the settings (python -m benchmarks.import_time has the cost)."""
    assert _imported_after("import turnout") == []
    assert _imported_after("import turnout; turnout.connect") == []
    assert _imported_after("from turnout import connect, Worker, workflow, activity") == []
    assert _imported_after("import turnout.config; turnout.config.load_settings()") == [
        "pydantic_settings"
    ]  # the probe sees what it looks for
