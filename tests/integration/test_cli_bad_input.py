"""Bad input on the command line: one line on stderr, exit code 2, never a traceback.

Each class of bad value a user can type, on SQLite and PostgreSQL: ids too long or
with control characters, NaN, an empty task queue, an empty ``--by``, JSON nested
10,000 levels deep, NUL inside JSON (``\\u0000``, which PostgreSQL cannot store).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEEP = "[" * 10_000 + "]" * 10_000

CASES = [
    pytest.param(["describe", "w" * 300], "at most 255", id="id-300-chars"),
    pytest.param(["describe", "bell\x07id"], "control characters", id="id-control-char"),
    pytest.param(["cancel", "tab\tid"], "control characters", id="cancel-id-tab"),
    pytest.param(["start", "W", "-q", "q", "-i", "NaN"], "NaN is not JSON", id="nan"),
    pytest.param(["start", "W", "-q", "q", "-i", "-Infinity"], "not JSON", id="infinity"),
    pytest.param(["start", "W", "-q", ""], "task queue must be a non-empty", id="empty-queue"),
    pytest.param(["start", "W" * 300, "-q", "q"], "workflow type has at most", id="type-300"),
    pytest.param(["start", "W", "-q", "q", "--id", "i" * 256], "at most 255", id="start-id"),
    pytest.param(["start", "W", "-q", "q", "-i", DEEP], "deeper than 64", id="json-10000-deep"),
    pytest.param(["start", "W", "-q", "q", "-i", '"a\\u0000b"'], "NUL", id="nul-input"),
    pytest.param(["start", "W", "-q", "q", "-i", '{"k\\u0000": 1}'], "NUL", id="nul-key"),
    pytest.param(["start", "W", "-q", "q", "-i", "{"], "not JSON", id="not-json"),
    pytest.param(["signal", "some-id", "poke", '["\\u0000"]'], "NUL", id="nul-signal"),
    pytest.param(["signal", "some-id", "poke", DEEP], "deeper than 64", id="deep-signal"),
    pytest.param(["query", "some-id", "status", "NaN"], "NaN is not JSON", id="nan-query"),
    pytest.param(["approve", "some-id", "deploy", "--by", ""], "who made it", id="empty-by"),
    pytest.param(["reject", "some-id", "deploy", "--by", " "], "who made it", id="blank-by"),
    pytest.param(["approve", "some-id", "d" * 256, "--by", "al"], "at most 255", id="approval"),
    pytest.param(["worker", "tests.workflows_for_tests", "-q", ""], "task queue", id="worker-q"),
    pytest.param(["list", "--type", "bad\x01type"], "control characters", id="list-filter"),
    pytest.param(["result", "x" * 256], "at most 255", id="result-id"),
]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def cli_env(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TURNOUT_")}
    env["PYTHONPATH"] = str(ROOT)
    if request.param == "postgres":
        env["TURNOUT_DATABASE_URL"] = str(request.getfixturevalue("postgres_url"))
    else:
        env["TURNOUT_DATABASE_URL"] = f"sqlite:///{tmp_path}/cli.db"
        # A database that exists, as a user's would: commands that only read refuse to
        # make one, and the input is what these cases are about.
        subprocess.run(
            [sys.executable, "-m", "turnout", "schema", "create"],
            cwd=ROOT, env=env, check=True, capture_output=True, timeout=60,
        )  # fmt: skip
    return env


@pytest.mark.parametrize(("args", "words"), CASES)
def test_bad_input_is_one_line_and_exit_code_2(
    cli_env: dict[str, str], args: list[str], words: str
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "turnout", *args],
        cwd=ROOT,
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: "), lines[0]
    assert words in lines[0], lines[0]
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert done.stdout == ""


def test_a_query_no_worker_answers_is_one_line_naming_the_task_queue(
    cli_env: dict[str, str],
) -> None:
    def turnout(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "turnout", *args],
            cwd=ROOT, env=cli_env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    started = turnout("start", "SomeWorkflow", "-q", "nobody-polls", "--id", "unanswered")
    assert started.returncode == 0, started.stderr
    done = turnout("query", "unanswered", "status", "--timeout", "1")
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "no worker polling task queue 'nobody-polls' answered within 1s" in lines[0]
    assert "start a worker" in lines[0]
    assert done.returncode == 1


def _worker_in(directory: Path, module: str) -> subprocess.CompletedProcess[str]:
    """``turnout worker MODULE`` run from ``directory``, as a user runs it there."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TURNOUT_")}
    env.pop("PYTHONPATH", None)
    env["TURNOUT_DATABASE_URL"] = f"sqlite:///{directory}/worker.db"
    return subprocess.run(
        [sys.executable, "-m", "turnout", "worker", module, "-q", "shop"],
        cwd=directory, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def _one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: "), lines[0]
    assert done.returncode == 2, (done.returncode, done.stderr)
    return lines[0]


def test_an_import_failing_inside_the_users_module_names_the_module_and_the_line(
    tmp_path: Path,
) -> None:
    (tmp_path / "shop.py").write_text("from turnout import workflow\nimport helpers\n")
    (tmp_path / "helpers.py").write_text("import json\nimport requestz\n")
    line = _one_error_line(_worker_in(tmp_path, "shop"))
    assert "module 'shop' does not import" in line
    assert "helpers.py line 2 ('import requestz')" in line
    assert "No module named 'requestz'" in line
    assert "imported through shop.py line 2" in line
    (tmp_path / "broken.py").write_text("def charge(:\n    pass\n")
    line = _one_error_line(_worker_in(tmp_path, "broken"))
    assert "module 'broken' does not import: broken.py line 1" in line


def test_a_file_path_for_a_module_suggests_the_module_name(tmp_path: Path) -> None:
    (tmp_path / "shop.py").write_text("import requestz\n")
    (tmp_path / "app").mkdir()
    for given, name in [("shop.py", "shop"), ("./app/orders.py", "app.orders")]:
        line = _one_error_line(_worker_in(tmp_path, given))
        assert f"{given!r} is a file path; name its module instead: {name!r}" in line
    line = _one_error_line(_worker_in(tmp_path, "shopp"))
    assert f"no module named 'shopp' in {tmp_path}" in line
