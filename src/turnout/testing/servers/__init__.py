"""Real PostgreSQL and Temporal servers for tests and benchmarks.

Everything here is plain Python (no pytest), so a benchmark harness can use it
as well as the pytest plugin in :mod:`turnout.testing.plugin`.

PostgreSQL comes, in this order, from:

1. ``TURNOUT_TEST_DATABASE_URL`` (an existing server where the user may create
   databases): :class:`ExternalPostgres`;
2. a testcontainers container when a Docker engine answers:
   :class:`ContainerPostgres`;
3. a throwaway cluster made with the local ``initdb`` / ``pg_ctl`` binaries on
   a free loopback port: :class:`LocalPostgres`.

Temporal comes from ``TURNOUT_TEST_TEMPORAL_ADDRESS`` (:class:`ExternalTemporal`)
or from the ``temporal`` CLI's dev server (:class:`TemporalDevServer`).

:func:`find_postgres` and :func:`find_temporal` walk those lists and return a
started server, or raise :class:`ServerUnavailable` saying what was tried.

Heavy or optional libraries (psycopg, temporalio, testcontainers) are imported
inside the functions that need them, never when this module is imported.

One module per server: ``_postgres`` (the interface, a server given by URL, template
databases), ``_postgres_container``, ``_postgres_local``, ``_temporal``; ``_find`` walks the
sources; ``_process`` holds what they share. Import the names from here.
"""

from turnout.testing.servers._find import find_postgres, find_temporal
from turnout.testing.servers._postgres import (
    ExternalPostgres,
    PostgresDatabases,
    PostgresServer,
    wait_for_postgres,
)
from turnout.testing.servers._postgres_container import ContainerPostgres
from turnout.testing.servers._postgres_local import LocalPostgres, find_postgres_bindir
from turnout.testing.servers._process import (
    DATABASE_URL_ENV,
    REQUIRE_POSTGRES_ENV,
    REQUIRE_TEMPORAL_ENV,
    TEMPORAL_ADDRESS_ENV,
    ServerError,
    ServerUnavailable,
    env_flag,
    free_port,
    redact_url,
)
from turnout.testing.servers._temporal import (
    CONTRACT_SEARCH_ATTRIBUTES,
    ExternalTemporal,
    TemporalDevServer,
    TemporalServer,
    find_temporal_binary,
    wait_for_temporal,
)

__all__ = [
    "CONTRACT_SEARCH_ATTRIBUTES",
    "DATABASE_URL_ENV",
    "REQUIRE_POSTGRES_ENV",
    "REQUIRE_TEMPORAL_ENV",
    "TEMPORAL_ADDRESS_ENV",
    "ContainerPostgres",
    "ExternalPostgres",
    "ExternalTemporal",
    "LocalPostgres",
    "PostgresDatabases",
    "PostgresServer",
    "ServerError",
    "ServerUnavailable",
    "TemporalDevServer",
    "TemporalServer",
    "env_flag",
    "find_postgres",
    "find_postgres_bindir",
    "find_temporal",
    "find_temporal_binary",
    "free_port",
    "redact_url",
    "wait_for_postgres",
    "wait_for_temporal",
]
