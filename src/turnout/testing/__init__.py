"""turnout's testing kit: real-server launchers, the pytest plugin and an activity runner.

The launchers (:mod:`turnout.testing.servers`) work outside pytest too, for
example in a benchmark harness::

    from turnout.testing import LocalPostgres, TemporalDevServer

    with LocalPostgres().start() as pg, TemporalDevServer().start() as temporal:
        print(pg.admin_url, temporal.address)

The fixtures live in :mod:`turnout.testing.plugin`, which pytest loads through
the ``pytest11`` entry point. :class:`ActivityEnvironment` runs an activity function
in a test, with ``activity.*`` working in it (``temporalio.testing``'s counterpart).
Importing this package is cheap: only the standard library is imported until a server
is started.
"""

from turnout.testing.activity_environment import ActivityEnvironment
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
from turnout.testing.workflow_environment import WorkflowEnvironment

__all__ = [
    "ActivityEnvironment",
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
    "WorkflowEnvironment",
    "crash_and_recover",
    "find_postgres",
    "find_temporal",
    "load_definitions",
]
