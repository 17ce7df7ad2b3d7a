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

``await WorkflowEnvironment.start_time_skipping()`` is the same local environment with a
clock of its own that skips ahead while a test awaits a result and nothing is left to
run (see :mod:`turnout.testing.time_skipping`): a workflow that sleeps thirty days
finishes at once, with no server to download.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from turnout.contracts.errors import ConfigurationError

if TYPE_CHECKING:
    from turnout.testing.time_skipping import SkippingClock

__all__ = ["WorkflowEnvironment"]

_ACCEPTED_DEFAULTS: dict[str, Any] = {
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

_SKIPPING_DEFAULTS: dict[str, Any] = {
    **{k: v for k, v in _ACCEPTED_DEFAULTS.items() if not k.startswith(("dev_server", "ui"))},
    "test_server_existing_path": None,
    "test_server_download_version": "default",
    "test_server_extra_args": (),
    "test_server_download_ttl": None,
    "test_server_startup_timeout": None,
}
"""The same for ``start_time_skipping``'s options, which tune Temporal's test server."""


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
        interceptors: Sequence[Any] = (),
        **options: Any,
    ) -> WorkflowEnvironment:
        """The internal executor on SQLite: a new database in a temporary directory, or
        the file ``dev_server_database_filename`` names (kept after shutdown).

        ``namespace`` is the client's tenant; ``interceptors`` are the client's (and its
        workers'). temporalio's options for its dev server are accepted at their
        defaults; any other value is refused by name.
        """
        _check_options("start_local", options, _ACCEPTED_DEFAULTS)
        from turnout.client import Client  # the client package imports the executors

        owned = None
        if dev_server_database_filename is None:
            owned = Path(tempfile.mkdtemp(prefix="turnout-env-"))
            database = owned / "turnout.db"
        else:
            database = Path(dev_server_database_filename)
        connect: dict[str, Any] = {"namespace": namespace, "interceptors": list(interceptors)}
        if data_converter is not None:
            connect["data_converter"] = data_converter
        try:
            client = await Client.connect(f"sqlite:///{database}", **connect)
        except BaseException:
            if owned is not None:
                shutil.rmtree(owned, ignore_errors=True)
            raise
        return cls(client, started=True, owned=owned)

    @classmethod
    async def start_time_skipping(
        cls, *, data_converter: Any = None, interceptors: Sequence[Any] = (), **options: Any
    ) -> WorkflowEnvironment:
        """A local environment (see :meth:`start_local`) whose time skips: while a test
        awaits a workflow's result through ``env.client`` and nothing is left to run,
        time moves on to the next timer, retry or deadline; ``env.sleep()`` moves it on
        by its duration. Offline and in-process, with a clock of its own."""
        _check_options("start_time_skipping", options, _SKIPPING_DEFAULTS)
        from turnout.executors.internal.store.sql import use_clock
        from turnout.testing.time_skipping import SkippingClient, SkippingClock

        local = await cls.start_local(data_converter=data_converter, interceptors=interceptors)
        clock = SkippingClock()
        use_clock(clock.now)  # this context's time: the environment's from now on
        return cls(SkippingClient(local.client, clock), started=True, owned=local._owned)

    @property
    def client(self) -> Any:
        """The environment's client."""
        return self._client

    @property
    def _skipping(self) -> SkippingClock | None:
        """The clock of a time-skipping environment's client (None for others)."""
        clock: SkippingClock | None = getattr(self._client, "skipping", None)
        return clock

    @property
    def supports_time_skipping(self) -> bool:
        """True for :meth:`start_time_skipping`'s environment."""
        return self._skipping is not None

    async def sleep(self, duration: timedelta | float) -> None:
        """Let ``duration`` (seconds or a timedelta) pass: skipped at once in a
        time-skipping environment, waited for otherwise."""
        length = duration if isinstance(duration, timedelta) else timedelta(seconds=duration)
        clock = self._skipping
        if clock is None:
            await asyncio.sleep(length.total_seconds())
            return
        clock.skip(length)
        await asyncio.sleep(0)

    async def get_current_time(self, handle: Any = None) -> datetime:
        """The environment's current time, in UTC (the machine's, unless it skips)."""
        clock = self._skipping
        return clock.now() if clock is not None else datetime.now(UTC)

    @contextlib.contextmanager
    def auto_time_skipping_disabled(self) -> Iterator[None]:
        """Within the block, awaiting a result does not skip time (``sleep`` still does)."""
        clock = self._skipping
        if clock is None:
            yield None
            return
        clock.auto = False
        try:
            yield None
        finally:
            clock.auto = True

    async def shutdown(self) -> None:
        """Close the client of an environment this class started, and remove its database."""
        if self._started:
            self._started = False
            await self._client.close()
        if self._owned is not None:
            shutil.rmtree(self._owned, ignore_errors=True)
            self._owned = None
        if self._skipping is not None:
            from turnout.executors.internal.store.sql import use_clock

            use_clock(None)  # the machine's time again in this context

    async def __aenter__(self) -> WorkflowEnvironment:
        return self

    async def __aexit__(self, *args: object) -> None:
        await self.shutdown()


def _check_options(method: str, options: dict[str, Any], defaults: dict[str, Any]) -> None:
    """Refuse an option turnout does not know, or one that tunes Temporal's own servers
    set to anything but its default."""
    for name, value in options.items():
        if name not in defaults:
            raise ConfigurationError(
                f"WorkflowEnvironment.{method}() got an unknown option {name!r}"
            )
        if _differs(value, defaults[name]):
            raise ConfigurationError(
                f"WorkflowEnvironment.{method}({name}=...) tunes a Temporal server; "
                "turnout's environment runs the internal executor on SQLite: leave it out"
            )


def _differs(value: Any, default: Any) -> bool:
    """True when ``value`` is not the default (an empty sequence counts as none)."""
    if isinstance(default, tuple | dict) and not default:
        return bool(value)
    return bool(value != default)
