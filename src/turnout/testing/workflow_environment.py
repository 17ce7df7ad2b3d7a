"""``WorkflowEnvironment``: a place to run workflows in tests, as temporalio's is.

``await WorkflowEnvironment.start_local()`` gives an environment whose ``client`` is the
internal executor on a SQLite file of its own (nothing to install, nothing to start,
offline); ``WorkflowEnvironment.from_client(client)`` wraps any turnout client, for
example one connected to a Temporal cluster or to PostgreSQL. A test written for
temporalio's environment runs once its imports name turnout::

    async with await WorkflowEnvironment.start_local() as env:
        async with Worker(env.client, task_queue="tq", workflows=[Greeter]):
            assert await env.client.execute_workflow(Greeter.run, "Ada", id="g-1",
                                                     task_queue="tq") == "Hello, Ada"

Time skipping is not offered: ``supports_time_skipping`` is False and ``sleep`` waits
for real, as in temporalio's environments without it.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from turnout.contracts.errors import ConfigurationError

__all__ = ["WorkflowEnvironment"]

_ACCEPTED_DEFAULTS: dict[str, Any] = {
    "interceptors": (),
    "plugins": (),
    "default_workflow_query_reject_condition": None,
    "retry_config": None,
    "rpc_metadata": {},
    "identity": None,
    "tls": False,
    "ip": "127.0.0.1",
    "port": None,
    "download_dest_dir": None,
    "ui": False,
    "runtime": None,
    "search_attributes": (),
    "dev_server_existing_path": None,
    "dev_server_log_format": "pretty",
    "dev_server_log_level": "warn",
    "dev_server_download_version": "default",
    "dev_server_extra_args": (),
    "dev_server_download_ttl": None,
    "dev_server_startup_timeout": None,
    "ui_port": None,
}
"""temporalio's ``start_local`` options that only tune its Temporal dev server: accepted
at their defaults (a test passes them through unchanged), refused otherwise."""


class WorkflowEnvironment:
    """A client to run workflows against in tests (see the module docstring)."""

    def __init__(self, client: Any, *, started: bool = False, owned: Path | None = None) -> None:
        self._client = client
        self._started = started
        """True when this environment made the client (and closes it at shutdown)."""
        self._owned = owned
        """The directory of the environment's own database, removed at shutdown."""

    @classmethod
    def from_client(cls, client: Any) -> WorkflowEnvironment:
        """An environment around an existing client (shut down by its owner, not here)."""
        return cls(client)

    @classmethod
    async def start_local(
        cls,
        *,
        namespace: str = "default",
        data_converter: Any = None,
        dev_server_database_filename: str | None = None,
        **options: Any,
    ) -> WorkflowEnvironment:
        """The internal executor on SQLite: a new database in a temporary directory, or
        the file ``dev_server_database_filename`` names (kept after shutdown).

        ``namespace`` is the client's tenant. temporalio's options for its dev server
        are accepted at their defaults; any other value is refused by name.
        """
        for name, value in options.items():
            if name not in _ACCEPTED_DEFAULTS:
                raise ConfigurationError(
                    f"WorkflowEnvironment.start_local() got an unknown option {name!r}"
                )
            if _differs(value, _ACCEPTED_DEFAULTS[name]):
                raise ConfigurationError(
                    f"WorkflowEnvironment.start_local({name}=...) tunes Temporal's dev server; "
                    "turnout's local environment runs the internal executor on SQLite: "
                    "leave it out"
                )
        from turnout.client import Client  # the client package imports the executors

        owned = None
        if dev_server_database_filename is None:
            owned = Path(tempfile.mkdtemp(prefix="turnout-env-"))
            database = owned / "turnout.db"
        else:
            database = Path(dev_server_database_filename)
        connect: dict[str, Any] = {"namespace": namespace}
        if data_converter is not None:
            connect["data_converter"] = data_converter
        try:
            client = await Client.connect(f"sqlite:///{database}", **connect)
        except BaseException:
            if owned is not None:
                shutil.rmtree(owned, ignore_errors=True)
            raise
        return cls(client, started=True, owned=owned)

    @property
    def client(self) -> Any:
        """The environment's client."""
        return self._client

    @property
    def supports_time_skipping(self) -> bool:
        """False: time passes for real in turnout's environments."""
        return False

    async def sleep(self, duration: timedelta | float) -> None:
        """Wait ``duration`` (seconds or a timedelta), for real."""
        seconds = duration.total_seconds() if isinstance(duration, timedelta) else duration
        await asyncio.sleep(seconds)

    async def get_current_time(self, handle: Any = None) -> datetime:
        """The environment's current time: the machine's, in UTC."""
        return datetime.now(UTC)

    @contextlib.contextmanager
    def auto_time_skipping_disabled(self) -> Iterator[None]:
        """Does nothing: there is no time skipping to disable."""
        yield None

    async def shutdown(self) -> None:
        """Close the client of an environment this class started, and remove its database."""
        if self._started:
            self._started = False
            await self._client.close()
        if self._owned is not None:
            shutil.rmtree(self._owned, ignore_errors=True)
            self._owned = None

    async def __aenter__(self) -> WorkflowEnvironment:
        return self

    async def __aexit__(self, *args: object) -> None:
        await self.shutdown()


def _differs(value: Any, default: Any) -> bool:
    """True when ``value`` is not the default (an empty sequence counts as none)."""
    if isinstance(default, tuple | dict) and not default:
        return bool(value)
    return bool(value != default)
