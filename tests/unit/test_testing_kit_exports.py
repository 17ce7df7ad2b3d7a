"""The names the testing kit exports: users' tests import them, so they stay put."""

from __future__ import annotations

import turnout.testing
import turnout.testing.recovery
import turnout.testing.servers

SERVERS = [
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

RECOVERY = [
    "CrashRecovery",
    "Definitions",
    "WorkerProcess",
    "WorkerProcessError",
    "crash_and_recover",
    "load_definitions",
    "main",
]

TESTING = [
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


def test_the_exported_names_are_pinned() -> None:
    assert sorted(turnout.testing.servers.__all__) == sorted(SERVERS)
    assert sorted(turnout.testing.recovery.__all__) == sorted(RECOVERY)
    assert sorted(turnout.testing.__all__) == sorted(TESTING)


def test_every_exported_name_is_there_and_documented() -> None:
    for module in (turnout.testing.servers, turnout.testing.recovery, turnout.testing):
        for name in module.__all__:
            value = getattr(module, name)
            if callable(value):
                assert value.__doc__, f"{module.__name__}.{name} has no docstring"


def test_the_kit_and_its_servers_module_export_the_same_objects() -> None:
    for name in turnout.testing.__all__:
        for module in (turnout.testing.servers, turnout.testing.recovery):
            if name in module.__all__:
                assert getattr(turnout.testing, name) is getattr(module, name), name
