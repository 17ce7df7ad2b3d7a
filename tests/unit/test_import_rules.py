"""Architecture rules: temporalio stays behind the Temporal executor; turnout imports without it."""

from __future__ import annotations

import ast
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
