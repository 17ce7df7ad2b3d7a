"""The ``toml`` and ``sql`` blocks of the documentation.

A ``[tool.turnout]`` table must hold valid settings; SQL runs, statement by statement,
on a fresh database with turnout's schema (the conventions are in test_docs_code.py).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit.docs_blocks import SQL_BLOCKS, TOML_BLOCKS, Block

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
