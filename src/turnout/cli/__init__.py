"""The ``turnout`` command: run workers, start and inspect workflows, replay, schema, doctor.

Settings come from ``TURNOUT_*`` variables (and ``[tool.turnout]``), overridden by
the global options. Exit codes: 0 ok; 1 the command ran and failed (a run failed or is
not found, a replay diverged, a doctor check failed); 2 the command could not run: bad
usage or input, or a configuration it cannot work with (a wrong setting or database URL,
a database or Temporal server it cannot reach, an extra or module not installed), said
in one ``error:`` line with the fix (``_errors``).

This module builds the command group and nothing else: each command (or group of
commands) lives in a module of this package that defines it and exposes
``register(group)``; :data:`COMMAND_MODULES` lists them. Helpers shared by the commands
live in ``_context`` (settings, client, modules, policies), ``_errors`` (failures and
exit codes) and ``_output`` (consoles and printing); they never import this module.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any, NoReturn

import click

from turnout.cli import (
    _demo,
    _doctor,
    _governance,
    _http,
    _replay,
    _runs,
    _schedules,
    _schema,
    _status,
    _worker,
    _workers,
)
from turnout.cli._output import err

__all__ = ["COMMAND_MODULES", "PG_CONNECT_TIMEOUT", "cli", "main"]

PG_CONNECT_TIMEOUT = "10"
"""Seconds a command waits for PostgreSQL to answer before saying it cannot reach it
(libpq's ``PGCONNECT_TIMEOUT``; that variable, or ``connect_timeout`` in the URL, wins)."""

COMMAND_MODULES: tuple[ModuleType, ...] = (
    _worker,
    _runs,
    _schedules,
    _replay,
    _schema,
    _doctor,
    _demo,
    _governance,
    _status,
    _http,
    _workers,
)
"""The modules whose ``register(group)`` adds their commands to ``turnout``."""


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--executor", type=click.Choice(["internal", "temporal"]), help="TURNOUT_EXECUTOR")
@click.option("--database-url", metavar="URL", help="TURNOUT_DATABASE_URL (internal executor)")
@click.option("--temporal-address", metavar="HOST:PORT", help="TURNOUT_TEMPORAL_ADDRESS")
@click.option("--namespace", help="TURNOUT_TEMPORAL_NAMESPACE")
@click.option("--tenant", help="TURNOUT_TENANT_ID: every command sees this tenant's runs only")
@click.version_option(package_name="turnout")
def cli(**_: Any) -> None:
    """Durable workflows on a database queue or on Temporal."""


for _module in COMMAND_MODULES:
    _module.register(cli)


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """Entry point. Exits with os._exit after flushing: native SDK threads (temporalio)
    may otherwise abort the interpreter at shutdown after the command succeeded."""
    os.environ.setdefault("PGCONNECT_TIMEOUT", PG_CONNECT_TIMEOUT)  # a server that never answers
    try:
        code = cli.main(args=list(argv) if argv is not None else None, standalone_mode=False)
        code = code if isinstance(code, int) else 0
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except click.ClickException as exc:
        exc.show()
        code = exc.exit_code
    except click.Abort:
        err.print("aborted")
        code = 1
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
