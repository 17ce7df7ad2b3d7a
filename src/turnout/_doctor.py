"""``turnout doctor``: check settings and connections, and say how to fix what is wrong."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from turnout.config import ExecutorKind, load_settings
from turnout.contracts.errors import ConfigurationError

__all__ = ["Check", "run_checks"]


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
    return checks


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
        return [
            Check(
                "database",
                False,
                f"cannot connect to {shown}: {exc}",
                "check TURNOUT_DATABASE_URL, that the server runs and accepts this user",
            )
        ]
    checks = [Check("database", True, f"{shown} (version {version})")]
    revision = current_revision(url)
    if revision is None:
        checks.append(
            Check(
                "schema",
                False,
                "no turnout schema yet",
                "run `turnout schema create` (workers and clients also create it on first use)",
            )
        )
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
