"""Bad configuration on the command line: one ``error:`` line with the fix, exit code 2,
no traceback, nothing left behind — for every command of ``turnout``.

The commands are read from the CLI itself (:data:`turnout.cli.cli`), so a new command is
covered without editing the matrix: it needs its minimal arguments in :data:`ARGS` (a
test fails until they are there) or a reason in :data:`EXEMPT`.

The classes of bad configuration, and which commands meet each:

* a malformed database URL: ``nosuchscheme://x`` (refused by the settings) for every
  command; ``sqlite://turnout.db`` (two slashes: SQLAlchemy refuses it) and ``postgres://``
  (no host: libpq falls back on its defaults, here a socket directory that does not
  exist) for the representatives;
* a PostgreSQL server that is down (a free local port) for the representatives, and one
  that accepts connections but never answers, to show the connect timeout bounds a
  command (``PG_CONNECT_TIMEOUT``);
* a Temporal address where nothing listens, for the representatives;
* a missing extra: temporalio (``TURNOUT_EXECUTOR=temporal``) for every command;
  psycopg (a ``postgresql://`` URL) for the representatives; prometheus-client (``worker
  --metrics-port``) and uvicorn (``serve``) for the command whose option needs them. The
  package is made unimportable by a stand-in on PYTHONPATH whose import raises
  ModuleNotFoundError, as an absent package does;
* a missing module: every command that takes modules (``worker``, ``replay -m``,
  ``query -m``, ``serve -m``) names one that does not exist; ``worker`` also gets an
  attribute that is not there, a module without definitions, and a ``--policy`` that
  names nothing.

Why representatives rather than every command under every class: each case is a fresh
interpreter, and the classes that reach the internal executor (a URL SQLAlchemy must
parse, a server to connect to, the psycopg driver) import it first, about 0.7 s of CPU
against 0.25 s for the cheap classes, which fail before (settings, temporalio's import,
the user's modules). Every command reaches the executor through ``connected()`` and
``turnout.connect()`` (cli/_context.py), whose errors ``run_async`` (cli/_errors.py) turns
into lines; the cheap classes, run for every command, show that each command goes that
way. The representatives are ``list`` (that shared path) and each command with a path of
its own: ``worker`` (definitions, then a Worker), ``serve`` (its check before serving),
``demo`` and ``schema ...`` (the internal executor only; ``schema`` runs SQLAlchemy
itself). ``doctor`` reports every class as a failed check with its fix (exit code 1,
documented for start-up checks), tested apart. The cases run as subprocesses, several
at once; the suite takes about 25 s on 2 cores.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import click
import pytest

from turnout.cli import PG_CONNECT_TIMEOUT, cli

ROOT = Path(__file__).resolve().parents[2]
MODULE = "tests.workflows_for_tests"
RUN_TIMEOUT = 40.0
"""Seconds any case may take: a command that hangs fails its test instead."""

ARGS: dict[str, list[str]] = {
    "worker": ["{module}", "-q", "q"],
    "start": ["W", "-q", "q"],
    "result": ["w"],
    "describe": ["w"],
    "list": [],
    "signal": ["w", "poke"],
    "query": ["w", "status", "-m", "{module}"],
    "cancel": ["w"],
    "terminate": ["w"],
    "events": ["w"],
    "schedule create": ["s", "W", "-q", "q", "--interval", "1h"],
    "schedule list": [],
    "schedule describe": ["s"],
    "schedule pause": ["s"],
    "schedule unpause": ["s"],
    "schedule trigger": ["s"],
    "schedule backfill": ["s", "--start", "2026-01-01T00:00:00Z", "--end", "2026-01-02T00:00:00Z"],
    "schedule delete": ["s"],
    "replay": ["w", "-m", "{module}"],
    "schema create": [],
    "schema show": [],
    "schema migrate": [],
    "demo": [],
    "approvals": [],
    "approve": ["w", "deploy", "--by", "al"],
    "reject": ["w", "deploy", "--by", "al"],
    "decisions": ["w"],
    "artifacts": ["w"],
    "metrics": [],
    "status": ["--once"],
    "serve": ["--port", "0", "-m", "{module}"],
    "workers": ["-q", "q"],
}
"""The minimal valid arguments of each command; ``{module}`` is where it names a module."""

EXEMPT = {
    "token create": "makes a token from --tenant alone: no database, no server, no module",
    "doctor": "reports each problem as a failed check with its fix, exit code 1 "
    "(docs/operations.md): tested by test_doctor_reports_each_class_with_its_fix",
}
"""Commands not held to the one-line rule, and why."""

INTERNAL_ONLY = {"demo", "schema create", "schema show", "schema migrate"}
"""Commands that work on the internal executor's database only: under Temporal they say
so, before anything is imported or reached."""

REPRESENTATIVES = ("list", "worker", "serve", "demo", "schema create", "schema show")
"""The commands run under the classes that import the internal executor (see above)."""


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[str]:
    found: list[str] = []
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            found += _commands(command, (*prefix, name))
        else:
            found.append(" ".join((*prefix, name)))
    return found


COMMANDS = _commands(cli)
CHECKED = [c for c in COMMANDS if c not in EXEMPT]


@dataclass(frozen=True)
class Setup:
    """A class of bad configuration: its environment (``{port}``: a free local port, one
    where nothing listens), and the words its error line holds."""

    env: dict[str, str]
    problem: str
    fix: str
    blocked: str | None = None  # the package made unimportable
    internal: bool = True  # on the internal executor (else Temporal)


TEMPORAL = {"TURNOUT_EXECUTOR": "temporal"}
SETUPS = {
    "url-scheme": Setup({"TURNOUT_DATABASE_URL": "nosuchscheme://x"},
                        "TURNOUT_DATABASE_URL uses 'nosuchscheme'", "sqlite:///"),
    "url-slashes": Setup({"TURNOUT_DATABASE_URL": "sqlite://turnout.db"},
                         "'sqlite://turnout.db' is not a database URL", "(three slashes)"),
    # No host: libpq's defaults, here a socket directory that does not exist.
    "url-no-host": Setup({"TURNOUT_DATABASE_URL": "postgres://", "PGHOST": "/no/such/dir"},
                         "cannot reach the database postgres://", "check TURNOUT_DATABASE_URL"),
    "postgres-down": Setup({"TURNOUT_DATABASE_URL": "postgresql://u:pw@127.0.0.1:{port}/d"},
                           "cannot reach the database postgresql://u:***@127.0.0.1:",
                           "is it running? check TURNOUT_DATABASE_URL"),
    "temporal-down": Setup({**TEMPORAL, "TURNOUT_TEMPORAL_ADDRESS": "127.0.0.1:{port}"},
                           "cannot reach the Temporal server at 127.0.0.1:",
                           "check TURNOUT_TEMPORAL_ADDRESS", internal=False),
    "no-psycopg": Setup({"TURNOUT_DATABASE_URL": "postgresql://u@127.0.0.1:5432/d"},
                        "needs its driver (psycopg)", "pip install 'turnout[postgres]'",
                        blocked="psycopg"),
    "no-temporalio": Setup(TEMPORAL, "No module named 'temporalio'",
                           "pip install 'turnout[temporal]'", blocked="temporalio",
                           internal=False),
    "no-module": Setup({}, "no module named 'no_such_module'",
                       "or add that directory to PYTHONPATH"),
    "no-prometheus": Setup({}, "--metrics-port", "pip install 'turnout[observability]'",
                           blocked="prometheus_client"),
    "no-uvicorn": Setup({}, "turnout serve needs the http extra", "pip install 'turnout[http]'",
                        blocked="uvicorn"),
}  # fmt: skip
INTERNAL_ONLY_WORDS = ("works on the internal executor's database", "unset TURNOUT_EXECUTOR")
EXPENSIVE = ("url-slashes", "url-no-host", "postgres-down", "temporal-down", "no-psycopg")


@dataclass(frozen=True)
class Case:
    """One command run under one setup, and the words its error line must hold."""

    name: str
    setup: str
    argv: tuple[str, ...]
    problem: str
    fix: str


def _case(command: str, setup: str, module: str = MODULE) -> Case:
    argv = [module if a == "{module}" else a for a in ARGS[command]]
    words = SETUPS[setup]
    problem, fix = words.problem, words.fix
    if command in INTERNAL_ONLY and not words.internal:
        problem, fix = INTERNAL_ONLY_WORDS
    name = f"{command.replace(' ', '-')}-{setup}"
    return Case(name, setup, (*command.split(), *argv), problem, fix)


def _special(name: str, setup: str, argv: list[str], problem: str = "", fix: str = "") -> Case:
    words = SETUPS[setup]
    return Case(name, setup, tuple(argv), problem or words.problem, fix or words.fix)


CASES: list[Case] = [
    *(_case(c, s) for c in CHECKED if c in ARGS for s in ("url-scheme", "no-temporalio")),
    *(_case(c, s) for c in REPRESENTATIVES for s in EXPENSIVE),
    *(_case(c, "no-module", "no_such_module") for c in CHECKED if "{module}" in ARGS.get(c, ())),
    _special("worker-attribute-not-there", "no-module", ["worker", f"{MODULE}:Nope", "-q", "q"],
             "has no attribute 'Nope'", "as MODULE or MODULE:ATTR"),
    _special("worker-module-without-definitions", "no-module", ["worker", "json", "-q", "q"],
             "no @workflow.defn class or @activity.defn function found in json",
             "name the module (or MODULE:ATTR)"),
    _special("worker-policy-not-there", "no-module",
             ["worker", MODULE, "-q", "q", "--policy", "no_such_module:p"]),
    _special("worker-no-prometheus", "no-prometheus",
             ["worker", MODULE, "-q", "q", "--metrics-port", "0"]),
    _special("serve-no-uvicorn", "no-uvicorn", ["serve", "--port", "0"]),
]  # fmt: skip
DOCTOR_FIXES = {
    "url-scheme": "correct the TURNOUT_* value",
    "url-slashes": "write sqlite:///turnout.db (three slashes)",
    "url-no-host": "check TURNOUT_DATABASE_URL",
    "postgres-down": "check TURNOUT_DATABASE_URL",
    "temporal-down": "start the Temporal server, or set TURNOUT_TEMPORAL_ADDRESS",
    "no-psycopg": "pip install 'turnout[postgres]'",
    "no-temporalio": "pip install 'turnout[temporal]'",
}
"""What ``doctor``'s fix line says under each setup."""


@dataclass(frozen=True)
class Outcome:
    done: subprocess.CompletedProcess[str]
    seconds: float
    cwd: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(argv: list[str], env: dict[str, str], cwd: Path) -> Outcome:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "turnout", *argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )
    return Outcome(done, time.monotonic() - started, cwd)


class Runs:
    """Every case started at once, a few at a time; each test waits for its own."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.pool = ThreadPoolExecutor(max_workers=(os.cpu_count() or 2) + 1)
        self.futures: dict[str, Future[Outcome]] = {}
        self.silent = socket.socket()  # accepts connections (the kernel does), never answers
        self.silent.bind(("127.0.0.1", 0))
        self.silent.listen(16)
        port = self.silent.getsockname()[1]
        self.submit(
            "hang", ["list"], {"TURNOUT_DATABASE_URL": f"postgresql://u@127.0.0.1:{port}/d"}
        )
        for case in CASES:
            setup = SETUPS[case.setup]
            self.submit(case.name, list(case.argv), setup.env, setup.blocked)
        for name in DOCTOR_FIXES:
            setup = SETUPS[name]
            self.submit(f"doctor-{name}", ["doctor"], setup.env, setup.blocked)

    def submit(
        self, key: str, argv: list[str], extra: dict[str, str], blocked: str | None = None
    ) -> None:
        cwd = self.base / key
        cwd.mkdir()
        path = [str(ROOT)]
        if blocked:  # a stand-in that fails to import as an absent package does
            stand_in = self.base / f"without-{key}" / blocked
            stand_in.mkdir(parents=True)
            (stand_in / "__init__.py").write_text(
                "raise ModuleNotFoundError(f'No module named {__name__!r}', name=__name__)\n"
            )
            path.insert(0, str(stand_in.parent))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TURNOUT_", "PG"))}
        env.update({k: v.replace("{port}", str(_free_port())) for k, v in extra.items()})
        env["PYTHONPATH"] = os.pathsep.join(path)
        self.futures[key] = self.pool.submit(_run, argv, env, cwd)

    def result(self, key: str) -> Outcome:
        return self.futures[key].result()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.silent.close()


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    started = Runs(tmp_path_factory.mktemp("cli-error-paths"))
    try:
        yield started
    finally:
        started.close()


def _one_error_line(outcome: Outcome) -> str:
    """The one ``error:`` line of a command that could not run: exit code 2, nothing on
    stdout, no traceback, nothing left in the directory it ran in."""
    done = outcome.done
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: "), lines[0]
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert done.stdout == ""
    assert sorted(p.name for p in outcome.cwd.iterdir()) == []
    return lines[0]


def test_every_command_has_its_arguments_or_a_reason_to_be_exempt() -> None:
    assert set(ARGS) | set(EXEMPT) == set(COMMANDS), "add the new command to ARGS or EXEMPT"
    assert not set(ARGS) & set(EXEMPT)
    assert {*REPRESENTATIVES, *INTERNAL_ONLY} <= set(ARGS)
    for name in CHECKED:  # a command that takes modules names one in its arguments
        command = cli
        for part in name.split():
            command = command.commands[part]  # type: ignore[attr-defined]
        if any(p.name == "modules" for p in command.params):
            assert "{module}" in ARGS[name], name


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_configuration_is_one_line_with_its_fix_and_exit_code_2(runs: Runs, case: Case) -> None:
    line = _one_error_line(runs.result(case.name))
    assert case.problem in line
    assert case.fix in line


def test_a_database_that_never_answers_is_given_up_after_the_connect_timeout(
    runs: Runs,
) -> None:
    outcome = runs.result("hang")
    line = _one_error_line(outcome)
    assert "connection timeout expired" in line
    assert "check TURNOUT_DATABASE_URL" in line
    assert float(PG_CONNECT_TIMEOUT) <= outcome.seconds < float(PG_CONNECT_TIMEOUT) + 20


@pytest.mark.parametrize("setup", list(DOCTOR_FIXES))
def test_doctor_reports_each_class_with_its_fix(runs: Runs, setup: str) -> None:
    outcome = runs.result(f"doctor-{setup}")
    done = outcome.done
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    assert done.returncode == 1, done.stdout
    assert done.stderr == ""
    lines = done.stdout.splitlines()
    failed = [i for i, line in enumerate(lines) if line.startswith("FAIL")]
    assert len(failed) == 1, done.stdout
    assert re.fullmatch(r"FAIL [a-z ]+: \S.*", lines[failed[0]]), lines[failed[0]]
    fix = lines[failed[0] + 1]
    assert fix.strip().startswith("fix: "), done.stdout
    assert DOCTOR_FIXES[setup] in fix
    assert sorted(p.name for p in outcome.cwd.iterdir()) == []
