"""PostgreSQL in a Docker container, run by testcontainers."""

from __future__ import annotations

import gc
import importlib
import importlib.util
import warnings
from pathlib import Path
from typing import Any, Self

from turnout.testing.servers._postgres import PostgresServer, wait_for_postgres
from turnout.testing.servers._process import (
    ServerError,
)

__all__ = ["ContainerPostgres", "docker_answers"]


class ContainerPostgres(PostgresServer):
    """A ``postgres`` Docker container run by testcontainers, removed by :meth:`stop`."""

    kind = "container"

    def __init__(
        self, image: str = "postgres:16-alpine", *, startup_timeout: float = 120.0
    ) -> None:
        self.image = image
        self.startup_timeout = startup_timeout
        self._container: Any = None
        self._url: str | None = None

    @property
    def admin_url(self) -> str:
        """URL of the container's superuser; only after :meth:`start`."""
        if self._url is None:
            raise ServerError("ContainerPostgres is not started")
        return self._url

    def start(self) -> Self:
        """Pull (if needed) and run the container, then wait until it accepts connections."""
        if self._url is not None:
            return self
        with warnings.catch_warnings():
            # testcontainers deprecates its own helpers from release to release.
            warnings.simplefilter("ignore", DeprecationWarning)
            try:
                module = importlib.import_module("testcontainers.community.postgres")
            except ImportError:
                module = importlib.import_module("testcontainers.postgres")
            container = module.PostgresContainer(
                self.image, username="turnout", password="turnout", dbname="turnout", driver=None
            )
            container.with_command(
                "postgres -c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                "-c max_connections=200"
            )
            self._container = container
            try:
                container.start()
                url: str = container.get_connection_url()
            except BaseException:
                self.stop()
                raise
        self._url = url
        try:
            wait_for_postgres(url, self.startup_timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop and remove the container."""
        container, self._container, self._url = self._container, None, None
        if container is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                container.stop()


def docker_answers(timeout: float = 2.0) -> str | None:
    """None when a Docker engine answers a ping; else the reason it does not."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            docker_client = importlib.import_module("testcontainers.core.docker_client")
    except ImportError:
        return "testcontainers is not installed"
    host = docker_client.get_docker_host()
    if host is None and not Path("/var/run/docker.sock").exists():
        return "no DOCKER_HOST, no docker context and no /var/run/docker.sock"
    reason: str | None = None
    with warnings.catch_warnings():
        # docker-py leaks its socket when the engine does not answer.
        warnings.simplefilter("ignore", ResourceWarning)
        try:
            client = importlib.import_module("docker").from_env(timeout=timeout)
            try:
                client.ping()
            finally:
                client.close()
        except Exception as exc:
            reason = f"no engine answered at {host or 'unix:///var/run/docker.sock'}: {exc}"
        gc.collect()
    return reason
