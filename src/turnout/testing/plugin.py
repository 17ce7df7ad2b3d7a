"""turnout's pytest plugin: real PostgreSQL, SQLite and Temporal fixtures.

Registered as the ``pytest11`` entry point ``turnout``, so it loads in every
pytest session of an environment where turnout is installed. Importing it is
cheap: servers start only when a test asks for one of the fixtures below, and
psycopg, temporalio and testcontainers are imported only then.

Fixtures:

``postgres_server`` (session)
    A running :class:`~turnout.testing.servers.PostgresServer` (``.admin_url``,
    ``.restart()`` on a local cluster), from :func:`~turnout.testing.servers.find_postgres`.
``postgres_databases`` (session)
    A :class:`~turnout.testing.servers.PostgresDatabases` on that server, to make
    extra fresh databases in a test.
``postgres_url`` (function)
    ``postgresql://...`` of a fresh, empty database, dropped after the test.
``sqlite_url`` (function)
    ``sqlite:///<tmp_path>/turnout.db``.
``temporal_server`` (session)
    A running :class:`~turnout.testing.servers.TemporalServer`; a dev server also has
    the namespaces ``tenant-a`` and ``tenant-b`` (:data:`TENANT_NAMESPACES`).
``temporal_address`` (session)
    ``host:port`` of that server.
``temporal_namespace`` (session)
    ``"default"``.

When no server can be found or started, dependent tests are skipped, or fail
when ``TURNOUT_REQUIRE_POSTGRES`` / ``TURNOUT_REQUIRE_TEMPORAL`` is ``1``.
Tests using the PostgreSQL or Temporal fixtures get the ``postgres`` /
``temporal`` marker, so ``-m "not temporal"`` deselects them.

With ``TURNOUT_HARD_EXIT=1``, the process ends with ``os._exit(exitstatus)``
once pytest has finished (after the summary and every teardown), skipping
interpreter shutdown, where native SDK threads can abort the process.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import pytest

from turnout.testing.harness import (
    EXECUTOR_KINDS,
    OPTION,
    ExecutorHarness,
    executor_kinds,
    open_harness,
)
from turnout.testing.servers import (
    REQUIRE_POSTGRES_ENV,
    REQUIRE_TEMPORAL_ENV,
    PostgresDatabases,
    PostgresServer,
    ServerUnavailable,
    TemporalServer,
    env_flag,
    find_postgres,
    find_temporal,
)

HARD_EXIT_ENV = "TURNOUT_HARD_EXIT"
"""When true, end the process with ``os._exit(exitstatus)`` after pytest has finished."""

_POSTGRES_FIXTURES = frozenset({"postgres_server", "postgres_databases", "postgres_url"})
_TEMPORAL_FIXTURES = frozenset({"temporal_server", "temporal_address"})

_S = TypeVar("_S")

_session_key = pytest.StashKey[pytest.Session]()
# The config of the outermost pytest run in this process; nested in-process
# runs (pytester) must never hard-exit the process that hosts them.
_outermost: list[pytest.Config] = []


def _start(find: Callable[[], _S], require_env: str) -> _S:
    """``find()``, or skip / fail (per ``require_env``) when no server is available."""
    try:
        return find()
    except ServerUnavailable as exc:
        problem = exc
    # Outside the except block, so the report shows the message, not a traceback chain.
    _unavailable(require_env, problem)


def _unavailable(require_env: str, exc: ServerUnavailable) -> NoReturn:
    message = str(exc)
    if env_flag(require_env):
        pytest.fail(
            f"{message}\n({require_env} is set, so this fails instead of skipping.)", pytrace=False
        )
    pytest.skip(f"{message}\n(Set {require_env}=1 to fail instead of skipping.)")


# --------------------------------------------------------------------------- hooks


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--turnout-executors``: which executors the ``executor`` fixture runs on."""
    parser.addoption(
        OPTION,
        default=None,
        help="comma-separated executors for the executor fixture "
        f"(default: {','.join(EXECUTOR_KINDS)})",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run every test that asks for ``executor`` once per chosen executor kind."""
    if "executor" in metafunc.fixturenames:
        kinds = executor_kinds(metafunc.config)
        metafunc.parametrize("executor", kinds, indirect=True, ids=kinds)


@pytest.fixture
def turnout_workflows() -> Sequence[type]:
    """The workflow classes the ``executor`` fixture's worker runs; override it."""
    return ()


@pytest.fixture
def turnout_activities() -> Sequence[Callable[..., Any]]:
    """The activities the ``executor`` fixture's worker runs; override it."""
    return ()


def pytest_configure(config: pytest.Config) -> None:
    """Register the markers this plugin applies; remember the outermost run."""
    config.addinivalue_line("markers", "postgres: needs a real PostgreSQL server")
    config.addinivalue_line("markers", "temporal: needs a real Temporal dev server")
    if not _outermost:
        _outermost.append(config)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests that use the server fixtures ``postgres`` / ``temporal``."""
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if names & _POSTGRES_FIXTURES:
            item.add_marker(pytest.mark.postgres)
        if names & _TEMPORAL_FIXTURES:
            item.add_marker(pytest.mark.temporal)


def pytest_sessionstart(session: pytest.Session) -> None:
    """Keep the session, whose final ``exitstatus`` the hard exit reports."""
    session.config.stash[_session_key] = session


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """With ``TURNOUT_HARD_EXIT=1``, ``os._exit(exitstatus)`` after everything else."""
    if not _outermost or _outermost[0] is not config:
        return
    _outermost.clear()
    if not env_flag(HARD_EXIT_ENV):
        return
    if hasattr(config, "workerinput"):  # a pytest-xdist worker reports to its controller
        return
    session = config.stash.get(_session_key, None)
    if session is None:
        return
    status = int(session.exitstatus)
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        if stream is not None:
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
    os._exit(status)


# --------------------------------------------------------------------------- PostgreSQL


try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - the dev extra installs it

    @pytest.fixture
    def executor() -> NoReturn:
        """Needs pytest-asyncio."""
        raise pytest.UsageError(
            "the executor fixture needs pytest-asyncio: pip install pytest-asyncio"
        )

else:

    @pytest_asyncio.fixture
    async def executor(  # type: ignore[misc]
        request: pytest.FixtureRequest,
        turnout_workflows: Sequence[type],
        turnout_activities: Sequence[Callable[..., Any]],
    ) -> AsyncIterator[ExecutorHarness]:
        """A connected client and a running worker, once per executor kind."""
        async for harness in open_harness(request, turnout_workflows, turnout_activities):
            yield harness


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A running PostgreSQL server for the session (see :func:`find_postgres`)."""
    server = _start(find_postgres, REQUIRE_POSTGRES_ENV)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_databases(postgres_server: PostgresServer) -> Iterator[PostgresDatabases]:
    """Fresh-database factory on ``postgres_server``; its template is dropped at the end."""
    databases = PostgresDatabases(
        postgres_server.admin_url, file_copy=postgres_server.kind == "local"
    )
    databases.create_template()
    try:
        yield databases
    finally:
        databases.close()


@pytest.fixture
def postgres_url(postgres_databases: PostgresDatabases) -> Iterator[str]:
    """URL of a fresh, empty database for this test; dropped (``WITH (FORCE)``) afterwards."""
    name = postgres_databases.create()
    try:
        yield postgres_databases.url_for(name)
    finally:
        postgres_databases.drop(name)


# --------------------------------------------------------------------------- SQLite


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """``sqlite:///<tmp_path>/turnout.db``: a database file no other test uses."""
    return f"sqlite:///{(tmp_path / 'turnout.db').as_posix()}"


# --------------------------------------------------------------------------- Temporal


TENANT_NAMESPACES = ("tenant-a", "tenant-b")
"""Namespaces the dev server also creates, for tests of tenants (a tenant is a namespace)."""


@pytest.fixture(scope="session")
def temporal_server() -> Iterator[TemporalServer]:
    """A running Temporal server for the session (see :func:`find_temporal`); a dev server
    also has the namespaces of the tenants ``tenant-a`` and ``tenant-b``."""
    server = _start(
        functools.partial(find_temporal, namespaces=TENANT_NAMESPACES), REQUIRE_TEMPORAL_ENV
    )
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def temporal_address(temporal_server: TemporalServer) -> str:
    """``host:port`` of the session's Temporal frontend."""
    return temporal_server.address


@pytest.fixture(scope="session")
def temporal_namespace() -> str:
    """The Temporal namespace tests use: ``"default"``."""
    return "default"
