"""compose/docker-compose.yml, checked without Docker: services, images, ports, healthchecks,
dependencies, and that the workers use real settings, a real module and a real command."""

from __future__ import annotations

import shlex
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from turnout._discovery import load_definitions
from turnout.cli import cli
from turnout.config import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "compose" / "docker-compose.yml"
WORKERS = ("worker", "worker-temporal")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(document, dict)
    return document


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = compose["services"]
    assert isinstance(found, dict)
    return found


def environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment as a mapping (Compose also accepts a list of KEY=VALUE)."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def shell_steps(service: dict[str, Any]) -> list[list[str]]:
    """The words of each ``&&``-joined step of a service's command."""
    command = service["command"]
    if isinstance(command, str):
        command = shlex.split(command)
    if command[:2] == ["sh", "-c"]:
        assert len(command) == 3, command
        return [shlex.split(step) for step in command[2].split("&&")]
    return [list(command)]


def turnout_invocation(service: dict[str, Any]) -> list[str]:
    """The arguments after ``turnout`` in the step that runs it (``exec`` allowed)."""
    for words in shell_steps(service):
        if words[:1] == ["exec"]:
            words = words[1:]
        if words[:1] == ["turnout"]:
            return words[1:]
    raise AssertionError(f"no `turnout ...` step in {service['command']!r}")


def mount_of_repository(service: dict[str, Any]) -> str:
    """Where the service mounts the repository (a bind mount of the compose file's parent)."""
    for volume in service.get("volumes", []):
        source, _, rest = str(volume).partition(":")
        target = rest.split(":")[0]
        if source.startswith((".", "/")) and (COMPOSE.parent / source).resolve() == ROOT:
            return target
    raise AssertionError(f"the repository is not mounted: {service.get('volumes')}")


def test_services_and_images(services: dict[str, dict[str, Any]]) -> None:
    assert set(services) == {"postgres", "temporal", *WORKERS}
    assert services["postgres"]["image"].startswith("postgres:")
    assert services["temporal"]["image"].startswith("temporalio/temporal:")
    assert services["temporal"]["command"][:2] == ["server", "start-dev"]
    for name in WORKERS:
        assert services[name]["image"] == "python:3.11-slim"
    assert not any("build" in service for service in services.values())
    assert services["worker-temporal"]["profiles"] == ["temporal"]
    assert "profiles" not in services["worker"]  # starts with a plain `up`


def test_ports_are_published_on_loopback_only(services: dict[str, dict[str, Any]]) -> None:
    published: dict[str, set[str]] = {}
    for name, service in services.items():
        for port in service.get("ports", []):
            host, _, container = str(port).rpartition(":")
            assert host.startswith("127.0.0.1:"), f"{name}: {port} is reachable from outside"
            published.setdefault(name, set()).add(container)
    assert published == {"postgres": {"5432"}, "temporal": {"7233", "8233"}}


def test_every_service_has_a_healthcheck(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        check = service.get("healthcheck")
        assert check, f"{name} has no healthcheck"
        assert check["test"][0] in {"CMD", "CMD-SHELL"}, name
        for key in ("interval", "timeout", "retries", "start_period"):
            assert key in check, f"{name}: healthcheck without {key}"
    assert services["postgres"]["healthcheck"]["test"][1] == "pg_isready"
    for name in WORKERS:
        test = services[name]["healthcheck"]["test"]
        assert test[1] == "turnout"
        assert test[2] in cli.commands, test  # type: ignore[attr-defined]


def test_dependencies_name_defined_services_and_wait_for_health(
    services: dict[str, dict[str, Any]],
) -> None:
    seen = 0
    for name, service in services.items():
        depends = service.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: use the long form, with a condition"
        for dependency, options in depends.items():
            seen += 1
            assert dependency in services, f"{name} depends on undefined {dependency!r}"
            assert dependency != name
            assert options["condition"] == "service_healthy"
            assert "healthcheck" in services[dependency]
    assert seen >= len(WORKERS)
    assert set(services["worker"]["depends_on"]) == {"postgres"}
    assert set(services["worker-temporal"]["depends_on"]) == {"temporal"}


def test_named_volumes_are_declared(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    declared = set(compose.get("volumes") or {})
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = str(volume).partition(":")[0]
            if not source.startswith((".", "/", "~", "$")):
                assert source in declared, f"{name}: volume {source!r} is not declared"


@pytest.mark.parametrize("name", WORKERS)
def test_worker_settings_are_real_turnout_settings(
    services: dict[str, dict[str, Any]], name: str
) -> None:
    env = environment(services[name])
    turnout_env = {k: v for k, v in env.items() if k.startswith("TURNOUT_")}
    assert "TURNOUT_EXECUTOR" in turnout_env
    fields = {k.removeprefix("TURNOUT_").lower(): v for k, v in turnout_env.items()}
    unknown = set(fields) - set(Settings.model_fields)
    assert not unknown, f"{name}: {sorted(unknown)} are not turnout settings"
    settings = Settings(**fields)  # the values validate too
    assert settings.executor.value == turnout_env["TURNOUT_EXECUTOR"]


def test_the_internal_worker_uses_the_postgres_service(
    services: dict[str, dict[str, Any]],
) -> None:
    settings = Settings(database_url=environment(services["worker"])["TURNOUT_DATABASE_URL"])
    assert settings.dialect == "postgresql"
    url = urlsplit(settings.database_url)
    postgres = environment(services["postgres"])
    assert url.hostname in services
    assert url.hostname == "postgres"
    assert (url.port or 5432) == 5432  # the container port, not the published one
    assert url.username == postgres["POSTGRES_USER"]
    assert url.password == postgres["POSTGRES_PASSWORD"]
    assert url.path.lstrip("/") == postgres["POSTGRES_DB"]


def test_the_temporal_worker_uses_the_temporal_service(
    services: dict[str, dict[str, Any]],
) -> None:
    address = environment(services["worker-temporal"])["TURNOUT_TEMPORAL_ADDRESS"]
    host, _, port = address.partition(":")
    assert host == "temporal"
    assert port == "7233"
    assert "7233" in services["temporal"]["healthcheck"]["test"][-1]


@pytest.mark.parametrize("name", WORKERS)
def test_worker_command_runs_a_real_module_with_a_real_command(
    services: dict[str, dict[str, Any]], name: str
) -> None:
    service = services[name]
    args = turnout_invocation(service)
    assert args[0] == "worker"
    assert args[0] in cli.commands  # type: ignore[attr-defined]
    command = cli.commands["worker"]  # type: ignore[attr-defined]
    options = {opt for param in command.params for opt in getattr(param, "opts", [])}
    module, rest = args[1], args[2:]
    for word in rest:
        if word.startswith("-"):
            assert word in options, f"{name}: `turnout worker` has no option {word}"
    queue = rest[rest.index("--task-queue") + 1]

    # the module is a file of the mounted repository, importable from PYTHONPATH
    target = mount_of_repository(service)
    env = environment(service)
    assert target in env["PYTHONPATH"].split(":")
    relative = Path(*module.split(":")[0].split("."))
    assert (ROOT / relative.with_suffix(".py")).is_file() or (ROOT / relative).is_dir()
    found = load_definitions([module])
    assert {w.__name__ for w in found.workflows} == {"PlaceOrder"}
    assert found.activities
    from examples import orders

    assert queue == orders.TASK_QUEUE


@pytest.mark.parametrize("name", WORKERS)
def test_worker_installs_turnout_from_the_mount_with_a_real_extra(
    services: dict[str, dict[str, Any]], name: str
) -> None:
    service = services[name]
    target = mount_of_repository(service)
    installs = [words for words in shell_steps(service) if words[:2] == ["pip", "install"]]
    assert len(installs) == 1
    requirement = next(w for w in installs[0][2:] if not w.startswith("-"))
    path, _, extras = requirement.partition("[")
    assert path == target
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    available = set(project["optional-dependencies"])
    for extra in extras.rstrip("]").split(","):
        assert extra.strip() in available, f"{name}: pyproject.toml has no extra {extra!r}"
    expected = {"internal": "postgres", "temporal": "temporal"}
    assert expected[environment(service)["TURNOUT_EXECUTOR"]] in extras
