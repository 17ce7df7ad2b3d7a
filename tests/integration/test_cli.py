"""The turnout command as a user runs it: a subprocess, against a worker in another process."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MODULE = "tests.workflows_for_tests"


def turnout(
    *args: str, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "turnout", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def ok(*args: str, env: dict[str, str], timeout: float = 60) -> str:
    done = turnout(*args, env=env, timeout=timeout)
    assert done.returncode == 0, f"turnout {' '.join(args)}: {done.stderr}\n{done.stdout}"
    return done.stdout


@pytest.fixture(params=["sqlite", "postgres", "temporal"])
def cli_env(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    """Environment selecting one executor for the CLI and its worker."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TURNOUT_")}
    env["PYTHONPATH"] = str(ROOT)
    if request.param == "temporal":
        env["TURNOUT_EXECUTOR"] = "temporal"
        env["TURNOUT_TEMPORAL_ADDRESS"] = str(request.getfixturevalue("temporal_address"))
    elif request.param == "postgres":
        env["TURNOUT_DATABASE_URL"] = str(request.getfixturevalue("postgres_url"))
    else:
        env["TURNOUT_DATABASE_URL"] = f"sqlite:///{tmp_path}/cli.db"
    return env


@pytest.fixture
def cli_worker(cli_env: dict[str, str]) -> Iterator[str]:
    """A ``turnout worker`` process for the test workflows; yields its task queue."""
    with worker_process(cli_env) as (queue, _):
        yield queue


@contextlib.contextmanager
def worker_process(env: dict[str, str]) -> Iterator[tuple[str, str]]:
    """A ``turnout worker`` process for the test workflows, stopped by SIGTERM after the
    block; yields its task queue and the line it printed once ready."""
    queue = f"cli-{uuid.uuid4().hex[:8]}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "turnout", "worker", MODULE, "--task-queue", queue],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert "worker ready" in line, line + (proc.stderr.read() if proc.poll() else "")
        yield queue, line
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            assert proc.wait(timeout=30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
            assert proc.stderr is not None
            proc.stderr.close()


def test_a_worker_on_uvloop_runs_workflows(cli_env: dict[str, str]) -> None:
    env = {**cli_env, "TURNOUT_EVENT_LOOP": "uvloop"}
    with worker_process(env) as (queue, ready):
        assert "(uvloop)" in ready
        wid = f"cli-{uuid.uuid4().hex[:8]}"
        started = ok("start", "HelloWorkflow", "--id", wid, "-q", queue, "--input", '"loop"',
                     "--wait", "--json", env=env)  # fmt: skip
        assert json.loads(started.strip().splitlines()[-1]) == "HELLO, LOOP!"
        waiting = f"cli-{uuid.uuid4().hex[:8]}"
        ok("start", "SignalWorkflow", "--id", waiting, "-q", queue, env=env)
        ok("signal", waiting, "add", '"x"', env=env)
        ok("signal", waiting, "finish", env=env)
        assert json.loads(ok("result", waiting, env=env)) == ["x"]


def test_uvloop_asked_for_but_not_installed_is_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TURNOUT_")}
    env.update(PYTHONPATH=str(ROOT), TURNOUT_EVENT_LOOP="uvloop",
               TURNOUT_DATABASE_URL=f"sqlite:///{tmp_path}/no-loop.db")  # fmt: skip
    without = "import sys; sys.modules['uvloop'] = None; from turnout.cli import main; main()"
    done = subprocess.run(
        [sys.executable, "-c", without, "worker", MODULE, "--task-queue", "q"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert "TURNOUT_EVENT_LOOP=uvloop needs the uvloop package" in line
    assert "pip install 'turnout[uvloop]'" in line


def test_every_command_on_a_workflow_started_from_another_process(
    cli_env: dict[str, str], cli_worker: str
) -> None:
    env, queue = cli_env, cli_worker
    wid = f"cli-{uuid.uuid4().hex[:8]}"
    started = ok("start", "HelloWorkflow", "--id", wid, "-q", queue, "--input", '"cli"',
                 "--wait", "--json", env=env)  # fmt: skip
    lines = started.strip().splitlines()
    assert json.loads(lines[0])["workflow_id"] == wid
    assert json.loads(lines[-1]) == "HELLO, CLI!"
    assert json.loads(ok("result", wid, env=env)) == "HELLO, CLI!"
    run = json.loads(ok("describe", wid, "--json", env=env))
    assert run["state"] == "completed"
    assert run["workflow_type"] == "HelloWorkflow"
    table = ok("describe", wid, env=env)
    assert "completed" in table
    events = [json.loads(line) for line in ok("events", wid, "--json", env=env).splitlines()]
    types = [e["type"] for e in events]
    assert types[0] == "workflow_started"
    assert "workflow_completed" in types
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    readable = ok("events", wid, env=env)
    assert "activity_completed" in readable
    assert "activity_type=greet" in readable

    # signal and query on a waiting workflow, then cancel and terminate
    waiting = f"cli-{uuid.uuid4().hex[:8]}"
    ok("start", "SignalWorkflow", "--id", waiting, "-q", queue, env=env)
    ok("signal", waiting, "add", '"x"', env=env)
    answer = ok("query", waiting, "count", env=env, timeout=60)  # the worker answers
    assert json.loads(answer) in (0, 1)  # the signal may still be on its way to the worker
    ok("signal", waiting, "finish", env=env)
    assert json.loads(ok("result", waiting, env=env)) == ["x"]

    sleeper = f"cli-{uuid.uuid4().hex[:8]}"
    ok("start", "SleepyWorkflow", "--id", sleeper, "-q", queue, env=env)
    ok("terminate", sleeper, "--reason", "from the cli", env=env)
    failed = turnout("result", sleeper, env=env)
    assert failed.returncode == 1
    assert "TerminatedError" in failed.stderr

    canceled = f"cli-{uuid.uuid4().hex[:8]}"
    ok("start", "SleepyWorkflow", "--id", canceled, "-q", queue, env=env)
    ok("cancel", canceled, env=env)
    outcome = turnout("result", canceled, env=env)
    assert outcome.returncode == 1
    assert "CancelledError" in outcome.stderr

    listed = [
        json.loads(line) for line in ok("list", "--json", "--limit", "50", env=env).splitlines()
    ]
    if env.get("TURNOUT_EXECUTOR") != "temporal":  # Temporal's visibility lags behind
        assert {wid, waiting, sleeper, canceled} <= {r["workflow_id"] for r in listed}
    assert all("state" in r for r in listed)

    # replay: the same code is deterministic; the changed code names the diverging event
    assert "deterministic" in ok("replay", wid, "--module", f"{MODULE}:HelloWorkflow", env=env)


def test_replay_catches_a_deliberate_non_determinism(
    cli_env: dict[str, str], cli_worker: str, tmp_path: Path
) -> None:
    env, queue = cli_env, cli_worker
    wid = f"cli-{uuid.uuid4().hex[:8]}"
    ok("start", "HelloWorkflow", "--id", wid, "-q", queue, "--input", '"r"', "--wait", env=env)
    changed = turnout("replay", wid, "--module", "tests.changed_workflows_for_tests", env=env)
    assert changed.returncode == 1, changed.stdout
    assert "not deterministic" in changed.stderr
    assert "greet" in changed.stderr  # what history recorded
    if env.get("TURNOUT_EXECUTOR") == "temporal":
        # Temporal's own export replays offline too.
        shown = subprocess.run(
            [str(Path(sys.executable).parent / "temporal"), "workflow", "show",
             "--workflow-id", wid, "--address", env["TURNOUT_TEMPORAL_ADDRESS"],
             "--output", "json"],
            capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        exported = tmp_path / "temporal-history.json"
        exported.write_text(shown.stdout)
        replayed = ok("replay", "--from-file", str(exported), "--module",
                      f"{MODULE}:HelloWorkflow", env=env)  # fmt: skip
        assert replayed.startswith("deterministic")
        refused = turnout("replay", "--from-file", str(exported), "--module",
                          "tests.changed_workflows_for_tests", env=env)  # fmt: skip
        assert refused.returncode == 1
        assert "not deterministic" in refused.stderr
        return
    assert "history event" in changed.stderr  # names the event's seq
    history = tmp_path / "history.json"
    history.write_text(ok("events", wid, "--json", env=env))
    offline = ok("replay", "--from-file", str(history), "--module", f"{MODULE}:HelloWorkflow",
                 env=env)  # fmt: skip
    assert offline.startswith("deterministic")
    diverged = turnout("replay", "--from-file", str(history), "--module",
                       "tests.changed_workflows_for_tests", env=env)  # fmt: skip
    assert diverged.returncode == 1
    assert "history event" in diverged.stderr


def test_schema_doctor_demo_and_usage_errors(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TURNOUT_")}
    env["TURNOUT_DATABASE_URL"] = f"sqlite:///{tmp_path}/schema.db"
    assert "CREATE TABLE turnout_runs" in ok("schema", "show", env=env)
    ok("schema", "create", env=env)
    ok("schema", "migrate", env=env)
    report = ok("doctor", env=env)
    assert "schema: revision" in report
    bad = dict(env, TURNOUT_DATABASE_URL="postgresql://nobody@127.0.0.1:1/none")
    broken = turnout("doctor", env=bad)
    assert broken.returncode == 1
    assert "fix:" in broken.stdout
    assert turnout("start", "X", "-q", "q", "--input", "not json", env=env).returncode == 2
    assert turnout("nonsense", env=env).returncode == 2
    wrong = turnout("list", env=dict(env, TURNOUT_EXECUTOR="kafka"))
    assert wrong.returncode == 2
    assert "TURNOUT_EXECUTOR" in wrong.stderr

    demo_env = {k: v for k, v in os.environ.items() if not k.startswith("TURNOUT_")}
    demo = subprocess.run(
        [sys.executable, "-m", "turnout", "demo"], cwd=tmp_path, env=demo_env,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert demo.returncode == 0, demo.stderr
    assert "approved by" in demo.stdout
    assert "see it again: " in demo.stdout
    assert " events demo-" in demo.stdout
    assert (tmp_path / "turnout.db").exists()


def test_a_failed_run_explains_itself_down_to_its_root_cause(
    cli_env: dict[str, str], cli_worker: str
) -> None:
    workflow_id = f"cli-{uuid.uuid4().hex[:8]}"
    started = turnout(
        "start", "BrokenWorkflow", "--id", workflow_id, "--task-queue", cli_worker,
        "--input", '"k"', "--wait", env=cli_env,
    )  # fmt: skip
    assert started.returncode == 1
    # start --wait says why, not only that it failed: the activity's own error.
    assert "this input can never work" in started.stderr
    assert "BadInput" in started.stderr
    described = ok("describe", workflow_id, env=cli_env)
    assert "this input can never work" in described
    events = ok("events", workflow_id, env=cli_env)
    flat = "".join(events.replace("│", "").split())  # the table may wrap the cell
    assert "BadInput:thisinputcanneverwork" in flat


def test_names_with_brackets_print_as_they_are_and_terminate_needs_no_reason(
    cli_env: dict[str, str],
) -> None:
    workflow_id = f"order[{uuid.uuid4().hex[:6]}]"
    started = turnout(
        "start", "SleepyWorkflow", "--id", workflow_id, "-q", f"nobody-{uuid.uuid4().hex[:6]}",
        env=cli_env,
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    assert workflow_id in started.stderr  # not swallowed as markup
    listed = ok("list", env=cli_env)
    assert workflow_id in listed
    run_id = json.loads(ok("describe", workflow_id, "--json", env=cli_env))["run_id"]
    assert run_id in listed  # the list has a run id column
    ok("terminate", workflow_id, env=cli_env)
    assert json.loads(ok("describe", workflow_id, "--json", env=cli_env))["state"] == "terminated"


@pytest.mark.parametrize("command", [["events", "x"], ["list"], ["describe", "x"], ["status"]])
def test_a_command_that_only_reads_makes_no_database(tmp_path: Path, command: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TURNOUT_")}
    env["PYTHONPATH"] = str(ROOT)
    database = tmp_path / "missing.db"
    env["TURNOUT_DATABASE_URL"] = f"sqlite:///{database}"
    done = turnout(*command, env=env)
    assert done.returncode == 2  # a configuration it cannot work with
    assert f"no database at {database}" in done.stderr
    assert not database.exists()


def test_list_describe_and_events_print_moments_in_one_format(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TURNOUT_")}
    env["TURNOUT_DATABASE_URL"] = f"sqlite:///{tmp_path}/demo.db"
    ok("demo", env=env)
    [workflow_id] = re.findall(r"demo-[0-9a-f]{8}", ok("list", env=env))
    run = json.loads(ok("describe", workflow_id, "--json", env=env))
    requested = datetime.fromisoformat(run["requested_at"]).astimezone(UTC)
    shown = requested.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    moment = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
    for args in (["list"], ["describe", workflow_id], ["events", workflow_id]):
        text = ok(*args, env=env)
        assert shown in text, (args, text)  # the run's start, to the millisecond, in UTC
        times = re.findall(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d[^\s│]*|\b\d\d:\d\d:\d\d\S*", text)
        assert times, text
        assert all(moment.fullmatch(t) for t in times), (args, times)


def test_doctor_on_a_database_turnout_has_not_used_yet_is_not_a_failure(tmp_path: Path) -> None:
    (tmp_path / "fresh.db").touch()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TURNOUT_")}
    env["TURNOUT_DATABASE_URL"] = f"sqlite:///{tmp_path}/fresh.db"
    report = ok("doctor", env=env)
    assert (
        "ok   schema: not created yet; the first client or `turnout schema create` creates it"
        in report
    )
    assert "FAIL" not in report


def test_list_takes_a_query_and_names_the_token_of_a_malformed_one(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TURNOUT_")}
    env.update(PYTHONPATH=str(ROOT), TURNOUT_DATABASE_URL=f"sqlite:///{tmp_path}/q.db")
    ids = [f"q-{uuid.uuid4().hex[:8]}" for _ in range(3)]
    for wid in ids:
        ok("start", "HelloWorkflow", "--id", wid, "-q", "nobody-polls", "--input", '"x"', env=env)
    query = f"WorkflowId IN ('{ids[0]}', '{ids[2]}') AND ExecutionStatus = 'Running'"
    listed = ok("list", "--query", query, "--json", env=env).splitlines()
    assert sorted(json.loads(line)["workflow_id"] for line in listed) == sorted([ids[0], ids[2]])
    bad = turnout("list", "--query", "WorkflowId = 'a' )", env=env)
    assert bad.returncode != 0
    assert "')' at column 18" in bad.stderr
    assert "Traceback" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1, bad.stderr


def test_schedule_commands_create_trigger_describe_pause_and_delete(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TURNOUT_")}
    env.update(PYTHONPATH=str(ROOT), TURNOUT_DATABASE_URL=f"sqlite:///{tmp_path}/s.db")
    made = ok("schedule", "create", "nightly", "HelloWorkflow", "-q", "nobody-polls",
              "--cron", "0 2 * * *", "--time-zone", "Europe/Paris", "-i", '"x"',
              env=env)  # fmt: skip
    assert "HelloWorkflow on nobody-polls" in made
    ok("schedule", "trigger", "nightly", env=env)
    ok("schedule", "pause", "nightly", "--note", "holiday", env=env)
    described = json.loads(ok("schedule", "describe", "nightly", "--json", env=env))
    assert described["paused"] is True
    assert described["note"] == "holiday"
    assert described["num_actions"] == 1
    (started,) = described["recent"]
    assert re.fullmatch(r"nightly-\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", started)
    assert (
        json.loads(ok("describe", started, "--json", env=env))["workflow_type"] == "HelloWorkflow"
    )
    assert "nightly" in ok("schedule", "list", env=env)
    ok("schedule", "delete", "nightly", env=env)
    for args, names in (
        (["schedule", "describe", "nightly"], "schedule 'nightly' not found"),
        (
            ["schedule", "create", "bad", "HelloWorkflow", "-q", "q", "--cron", "61 * * * *"],
            "outside 0-59",
        ),
        (
            ["schedule", "create", "bad", "HelloWorkflow", "-q", "q", "--interval", "5x"],
            "not a duration",
        ),
    ):
        refused = turnout(*args, env=env)
        assert refused.returncode != 0
        assert names in refused.stderr
        assert "Traceback" not in refused.stderr


async def test_describe_shows_what_an_open_run_waits_on(tmp_path: Path) -> None:
    import asyncio

    import turnout
    from turnout.testing.contract.workflows_pending import (
        PENDING_ACTIVITIES,
        PENDING_WORKFLOWS,
        StuckOrder,
    )

    url = f"sqlite:///{tmp_path}/p.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TURNOUT_")}
    env.update(PYTHONPATH=str(ROOT), TURNOUT_DATABASE_URL=url)
    client = await turnout.connect(executor="internal", database_url=url)
    try:
        async with turnout.Worker(
            client, task_queue="p", workflows=PENDING_WORKFLOWS, activities=PENDING_ACTIVITIES
        ):
            handle = await client.start_workflow(StuckOrder.run, "o-9", id="stuck", task_queue="p")
            async with asyncio.timeout(30):
                while not (run := await handle.describe()).pending_activities or (
                    run.pending_activities[0].attempt < 2
                ):
                    await asyncio.sleep(0.1)
            described = await asyncio.to_thread(ok, "describe", "stuck", env=env)
            await handle.terminate()
    finally:
        await client.close()
    flat = " ".join(described.split())
    assert "pending activity flaky_charge" in flat
    assert "(no limit)" in flat
    assert "card declined for o-9" in flat
    assert "pending child Waiter stuck-child" in flat
