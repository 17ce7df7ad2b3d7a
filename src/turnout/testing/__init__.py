"""turnout's testing kit: real-server launchers and the pytest plugin.

The launchers (:mod:`turnout.testing.servers`) work outside pytest too, for
example in a benchmark harness::

    from turnout.testing import LocalPostgres, TemporalDevServer

    with LocalPostgres().start() as pg, TemporalDevServer().start() as temporal:
        print(pg.admin_url, temporal.address)

The fixtures live in :mod:`turnout.testing.plugin`, which pytest loads through
the ``pytest11`` entry point. Importing this package is cheap: only the
standard library is imported until a server is started.
"""

from turnout.testing.recovery import (
    CrashRecovery,
    Definitions,
    WorkerProcess,
    WorkerProcessError,
    crash_and_recover,
    load_definitions,
)
from turnout.testing.servers import (
    ContainerPostgres,
    ExternalPostgres,
    ExternalTemporal,
    LocalPostgres,
    PostgresDatabases,
    PostgresServer,
    ServerError,
    ServerUnavailable,
    TemporalDevServer,
    TemporalServer,
    find_postgres,
    find_temporal,
)

__all__ = [
    "ContainerPostgres",
    "CrashRecovery",
    "Definitions",
    "ExternalPostgres",
    "ExternalTemporal",
    "LocalPostgres",
    "PostgresDatabases",
    "PostgresServer",
    "ServerError",
    "ServerUnavailable",
    "TemporalDevServer",
    "TemporalServer",
    "WorkerProcess",
    "WorkerProcessError",
    "crash_and_recover",
    "find_postgres",
    "find_temporal",
    "load_definitions",
]
