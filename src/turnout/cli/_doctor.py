"""``turnout doctor``: check settings and connections, and say how to fix what is wrong."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import click
from rich.text import Text

from turnout._connect import database_error
from turnout.cli._errors import run_async
from turnout.cli._output import dump, out
from turnout.config import ExecutorKind, load_settings
from turnout.contracts.errors import ConfigurationError

__all__ = ["SCHEMA_NOT_CREATED", "STALL_SECONDS", "Check", "register", "run_checks"]


@dataclass
class Check:
    """One line of the report."""

    name: str
    ok: bool
    detail: str
    fix: str | None = None


async def run_checks(options: dict[str, Any]) -> list[Check]:
    """Every check that applies to the configured executor, in order."""
    try:
        settings = load_settings(
            executor=options.get("executor"),
            database_url=options.get("database_url"),
            temporal_address=options.get("temporal_address"),
            temporal_namespace=options.get("namespace"),
            tenant_id=options.get("tenant"),
        )
    except ConfigurationError as exc:
        return [Check("settings", False, str(exc), "correct the TURNOUT_* value named above")]
    checks = [
        Check("settings", True, f"executor={settings.executor.value}, env={settings.env.value}")
    ]
    if settings.executor is ExecutorKind.TEMPORAL:
        checks.append(await _temporal(settings.temporal_address, settings.temporal_namespace))
        return checks
    from turnout._connect import _production_gate

    try:
        _production_gate(settings, settings.database_url)
        checks.append(Check("production gate", True, f"{settings.dialect} allowed"))
    except ConfigurationError as exc:
        checks.append(Check("production gate", False, str(exc), "see the message"))
    checks.extend(_database(settings.database_url))
    created = all(c.detail != SCHEMA_NOT_CREATED for c in checks)
    if created and all(c.ok for c in checks if c.name in ("database", "schema")):
        checks.append(await _queues(settings.database_url, settings.tenant_id))
    return checks


SCHEMA_NOT_CREATED = "not created yet; the first client or `turnout schema create` creates it"
"""The schema check of a database turnout has not used yet: not a failure, since the first
client or worker creates the schema."""

STALL_SECONDS = 60.0
"""A queue whose oldest ready item waits longer than this, with no lease held on it, has
no worker claiming (``turnout doctor`` fails its ``queues`` check)."""


async def _queues(url: str, tenant_id: str) -> Check:
    """Depth, lag and dead letters per task queue, and whether some worker claims from
    each queue that has ready work (what a worker's ``/readyz`` says of itself)."""
    from turnout.executors.internal.store import open_store
    from turnout.executors.internal.store.figures import per_queue

    store = open_store(url)
    try:
        figures = await store.figures(tenant_id)
    except Exception as exc:
        return Check("queues", False, f"cannot read the queue figures: {exc}", "see the message")
    finally:
        await store.close()
    rows = per_queue(figures)
    if not rows:
        return Check("queues", True, "no queued, leased or dead work")
    stalled = [r.task_queue for r in rows if r.lag_seconds > STALL_SECONDS and not r.leased]
    detail = "; ".join(
        f"{r.task_queue}: depth {r.depth}, lag {r.lag_seconds:.1f}s, "
        f"leased {r.leased}, dead {r.dead_letters}"
        for r in rows
    )
    if stalled:
        return Check(
            "queues",
            False,
            f"nothing claims from {', '.join(stalled)} (ready work waits over "
            f"{STALL_SECONDS:g}s, no lease held); {detail}",
            f"start a worker: turnout worker MODULE --task-queue {stalled[0]} "
            "(and check its /readyz)",
        )
    return Check("queues", True, detail)


def _database(url: str) -> list[Check]:
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from turnout.executors.internal.migrate import current_revision, make_engine
    from turnout.executors.internal.schema import SCHEMA_REVISION

    shown = make_url(url).render_as_string(hide_password=True)
    try:
        engine = make_engine(url)
        try:
            with engine.connect() as conn:
                version = conn.execute(text("SELECT sqlite_version()" if url.startswith("sqlite")
                                            else "SHOW server_version")).scalar()  # fmt: skip
        finally:
            engine.dispose()
    except Exception as exc:
        return [_unusable(url, shown, exc)]
    checks = [Check("database", True, f"{shown} (version {version})")]
    revision = current_revision(url)
    if revision is None:
        checks.append(Check("schema", True, SCHEMA_NOT_CREATED))
    elif revision != SCHEMA_REVISION:
        checks.append(
            Check(
                "schema",
                False,
                f"at revision {revision}, this turnout expects {SCHEMA_REVISION}",
                "run `turnout schema migrate`",
            )
        )
    else:
        checks.append(Check("schema", True, f"revision {revision}"))
    return checks


def _unusable(url: str, shown: str, exc: Exception) -> Check:
    """The failed database check: a driver to install, a URL to correct, or a server to
    reach."""
    if isinstance(exc, ModuleNotFoundError):
        extra = "'turnout[postgres]'" if url.startswith("postgres") else "turnout"
        return Check(
            "database", False, f"{shown} needs {exc.name}, not installed", f"pip install {extra}"
        )
    if isinstance(database_error(exc, url), ConfigurationError):
        return Check(
            "database",
            False,
            f"{shown} is not a database URL: {_first_line(exc)}",
            "write sqlite:///turnout.db (three slashes) or postgresql://user:password@host/db",
        )
    return Check(
        "database",
        False,
        f"cannot connect to {shown}: {_first_line(exc)}",
        "check TURNOUT_DATABASE_URL, that the server runs and accepts this user",
    )


def _first_line(exc: Exception) -> str:
    """The driver's own message, without SQLAlchemy's wrapping and links."""
    lines = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


async def _temporal(address: str, namespace: str) -> Check:
    try:
        from turnout.executors.temporal._health import check_namespace
    except ImportError:
        return Check(
            "temporal",
            False,
            "the temporal extra is not installed",
            "pip install 'turnout[temporal]'",
        )
    try:
        await check_namespace(address, namespace, 5.0)
    except Exception as exc:
        return Check(
            "temporal",
            False,
            f"cannot reach namespace {namespace!r} at {address}: {exc}",
            "start the Temporal server, or set TURNOUT_TEMPORAL_ADDRESS and "
            "TURNOUT_TEMPORAL_NAMESPACE",
        )
    return Check("temporal", True, f"namespace {namespace!r} at {address}")


@click.command()
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def doctor(ctx: click.Context, as_json: bool) -> None:
    """Check settings and connections; say what is wrong and how to fix it."""
    checks = run_async(run_checks(ctx.find_root().params))
    if as_json:
        for check in checks:
            out.print(dump(check.__dict__))
    else:
        for check in checks:
            mark = ("ok  ", "green") if check.ok else ("FAIL", "red")
            out.print(Text.assemble(mark, f" {check.name}: {check.detail}"))
            if not check.ok and check.fix:
                out.print(f"      fix: {check.fix}")
    if not all(c.ok for c in checks):
        raise SystemExit(1)


def register(group: click.Group) -> None:
    """Add ``turnout doctor`` to ``group``."""
    group.add_command(doctor)
