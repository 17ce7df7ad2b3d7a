"""``turnout.connect()`` and ``turnout.Worker``: the executor is chosen by settings.

Settings (pydantic-settings) and the executors (SQLAlchemy, temporalio) are imported
when a client connects or a worker is made, not with this module.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Unpack

from turnout.contracts.connector import install_connector
from turnout.contracts.errors import (
    ConfigurationError,
    ExecutorUnavailableError,
    TurnoutError,
)
from turnout.contracts.executor import Client
from turnout.contracts.governance import validate_task_queue, validate_tenant
from turnout.contracts.interceptors import check_client_interceptors
from turnout.contracts.worker_interceptors import check_worker_interceptors
from turnout.contracts.worker_options import WorkerOptions

if TYPE_CHECKING:
    from turnout.config import Settings

__all__ = ["Worker", "connect", "connect_target", "database_error"]


async def connect(
    *,
    executor: str | None = None,
    database_url: str | None = None,
    temporal_address: str | None = None,
    namespace: str | None = None,
    tenant_id: str | None = None,
    tenant: str | None = None,
    workflows: Sequence[type] = (),
    create_schema: bool = True,
    settings: Settings | None = None,
    interceptors: Sequence[object] = (),
) -> Client:
    """Connect to the configured executor and return its Client.

    Keyword arguments override ``TURNOUT_*`` environment variables, which
    override ``[tool.turnout]`` in pyproject.toml. On the internal executor the
    schema is created when missing (idempotent, safe on every boot).

    ``tenant`` (or ``tenant_id``) scopes every read and write of the client to
    one tenant: another tenant's runs are not found, listed or decided.

    ``interceptors`` (``turnout.client.Interceptor``) see every call the client makes;
    those that are also ``turnout.worker.Interceptor`` intercept its workers too.
    """
    from turnout.config import ExecutorKind, load_settings

    if tenant is not None and tenant_id is not None and tenant != tenant_id:
        raise ConfigurationError(
            f"connect() got tenant={tenant!r} and tenant_id={tenant_id!r}; pass only one"
        )
    tenant_id = tenant if tenant is not None else tenant_id
    if tenant_id is not None:
        validate_tenant(tenant_id)
    settings = settings or load_settings(
        executor=executor,
        database_url=database_url,
        temporal_address=temporal_address,
        temporal_namespace=namespace,
        tenant_id=tenant_id,
    )
    if settings.executor is ExecutorKind.TEMPORAL:
        try:
            from turnout.executors.temporal import connect_temporal
        except ImportError as exc:
            raise ConfigurationError(
                "TURNOUT_EXECUTOR=temporal needs the temporal extra: "
                "pip install 'turnout[temporal]'"
                f" ({exc})"
            ) from exc
        try:
            return await connect_temporal(settings, workflows=workflows, interceptors=interceptors)
        except RuntimeError as exc:  # temporalio's "Failed client connect: ..."
            raise ExecutorUnavailableError(
                f"cannot reach the Temporal server at {settings.temporal_address}: "
                f"{_first_line(exc)}; is it running? check TURNOUT_TEMPORAL_ADDRESS "
                "(turnout doctor)"
            ) from None
    _production_gate(settings, settings.database_url)
    _sqlite_directory_exists(settings.database_url)
    from turnout.executors.internal.client import InternalClient
    from turnout.executors.internal.migrate import create_schema_async
    from turnout.executors.internal.store import open_store

    store = _open(open_store, settings.database_url)
    try:
        if create_schema:
            await create_schema_async(store.engine)
    except BaseException as exc:
        await store.close()
        explained = database_error(exc, settings.database_url)
        if explained is None:
            raise
        raise explained from None
    return InternalClient(
        store,
        tenant_id=settings.tenant_id,
        workflows=workflows,
        max_payload_bytes=settings.max_payload_bytes,
        interceptors=interceptors,
    )


async def connect_target(
    target_host: str | None,
    *,
    namespace: str = "default",
    data_converter: object = None,
    interceptors: Sequence[object] = (),
    **options: Any,
) -> Client:
    """``Client.connect``: ``target_host`` picks the executor, as the address does in
    temporalio. A URL (``sqlite:///app.db``, ``postgresql://...``) is a database of the
    internal executor, whose tenant is ``namespace``; ``host:port`` is a Temporal frontend
    and ``namespace`` its namespace; no target leaves the choice to the ``TURNOUT_*``
    settings.

    temporalio's other options are refused by name unless they keep their default value
    (None, False or empty): turnout takes connection details from its settings.
    """
    from turnout.config import ExecutorKind, load_settings

    interceptors = check_client_interceptors(interceptors)
    refused = sorted(name for name, value in options.items() if not _is_default(value))
    if refused:
        raise ConfigurationError(
            f"Client.connect() does not take {', '.join(refused)}: turnout reads connection "
            "details from its TURNOUT_* settings (docs/executors.md); remove "
            + ("it" if len(refused) == 1 else "them")
        )
    if data_converter is not None and data_converter is not _pydantic_converter():
        raise ConfigurationError(
            "Client.connect() takes no data_converter but turnout.contrib.pydantic's "
            "pydantic_data_converter: turnout converts every value with pydantic from the "
            "type hints; remove data_converter"
        )
    if not isinstance(namespace, str) or not namespace:
        raise ConfigurationError("Client.connect() needs a namespace name, e.g. 'default'")
    if target_host is None:
        executor = load_settings().executor
    elif not isinstance(target_host, str) or not target_host.strip():
        raise ConfigurationError(
            "Client.connect() needs a Temporal address (localhost:7233) or a database URL "
            "(sqlite:///turnout.db, postgresql://...), or no target for the TURNOUT_* settings"
        )
    else:
        executor = ExecutorKind.INTERNAL if "://" in target_host else ExecutorKind.TEMPORAL
    named = None if namespace == "default" else namespace
    if executor is ExecutorKind.TEMPORAL:
        return await connect(
            executor="temporal",
            temporal_address=target_host,
            namespace=named,
            interceptors=interceptors,
        )
    return await connect(
        executor="internal", database_url=target_host, tenant=named, interceptors=interceptors
    )


def _is_default(value: object) -> bool:
    """Whether a temporalio option was left at its default (None, False or empty)."""
    if value is None or value is False:
        return True
    return isinstance(value, list | tuple | dict) and not value


def _pydantic_converter() -> object:
    from turnout.contrib.pydantic import pydantic_data_converter

    return pydantic_data_converter


install_connector(connect_target)


def _open(open_store: Any, url: str) -> Any:
    """The store for ``url``; a URL SQLAlchemy cannot read, or a driver not installed, is a
    ConfigurationError that says what to write or install."""
    try:
        return open_store(url)
    except Exception as exc:
        explained = database_error(exc, url)
        if explained is None:
            raise
        raise explained from None


def database_error(exc: BaseException, url: str) -> TurnoutError | None:
    """What ``exc``, raised while opening or reaching the database at ``url``, means to a
    user, in one line with the fix: a ConfigurationError for a URL SQLAlchemy cannot read
    or a driver that is not installed, an ExecutorUnavailableError for a database that
    cannot be reached; None for any other error."""
    if isinstance(exc, ModuleNotFoundError):
        scheme = url.split(":", 1)[0]
        extra = "'turnout[postgres]'" if scheme.startswith("postgres") else "turnout"
        return ConfigurationError(
            f"{scheme}:// needs its driver ({exc.name}), which is not installed: "
            f"pip install {extra}"
        )
    if type(exc).__name__ == "ArgumentError":
        return ConfigurationError(
            f"TURNOUT_DATABASE_URL {_redacted(url)!r} is not a database URL "
            f"({_first_line(exc)}); write sqlite:///turnout.db (three slashes) or "
            "postgresql://user:password@host:5432/db"
        )
    if isinstance(exc, OSError) or _unreachable(exc):  # DBAPI errors included
        return ExecutorUnavailableError(
            f"cannot reach the database {_redacted(url)}: {_first_line(exc)}; is it "
            "running? check TURNOUT_DATABASE_URL (turnout doctor)"
        )
    return None


def _unreachable(exc: BaseException) -> bool:
    """Whether a driver's error says the database cannot be reached (not a bug)."""
    orig = getattr(exc, "orig", None)
    return isinstance(orig, OSError) or type(exc).__name__ in {
        "OperationalError",
        "InterfaceError",
    }


def _first_line(exc: BaseException) -> str:
    cause = getattr(exc, "orig", None) or exc
    lines = str(cause).strip().splitlines()
    return lines[0] if lines else type(cause).__name__


def _redacted(url: str) -> str:
    """``url`` without its password."""
    scheme, sep, rest = url.partition("://")
    if "@" not in rest:
        return url
    credentials, _, host = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}{sep}{user}:***@{host}"


def _sqlite_directory_exists(url: str) -> None:
    """A SQLite file can be created only in a directory that exists: say so plainly."""
    from turnout.config import database_dialect

    if database_dialect(url) != "sqlite":
        return
    from sqlalchemy.engine import make_url

    path = make_url(url).database
    if not path or path == ":memory:" or path.startswith("file:"):
        return
    directory = Path(path).expanduser().resolve().parent
    if not directory.is_dir():
        raise ConfigurationError(
            f"the SQLite database {path} cannot be created: directory {directory} does not "
            "exist; create it, or point TURNOUT_DATABASE_URL at a file in an existing directory"
        )


def _production_gate(settings: Settings, url: str) -> None:
    from turnout.config import Environment, database_dialect

    if settings.env is not Environment.PRODUCTION:
        return
    if database_dialect(url) == "sqlite":
        if ":memory:" in url or url.rstrip("/") in {"sqlite:", "sqlite:/"}:
            raise ConfigurationError(
                "TURNOUT_ENV=production refuses an in-memory database: it loses every run on "
                "restart; set TURNOUT_DATABASE_URL=postgresql://..."
            )
        if not settings.allow_sqlite_in_production:
            raise ConfigurationError(
                "TURNOUT_ENV=production refuses SQLite (one node, one writer); set "
                "TURNOUT_DATABASE_URL=postgresql://... or, knowingly, "
                "TURNOUT_ALLOW_SQLITE_IN_PRODUCTION=1"
            )


class Worker:
    """Runs workflows and activities of one task queue on the client's executor.

    ``async with Worker(client, task_queue="q", workflows=[...], activities=[...]):``
    or ``await Worker(...).run()``. Options not known to an executor are refused.
    """

    def __init__(
        self,
        client: Client,
        *,
        task_queue: str,
        workflows: Sequence[type] = (),
        activities: Sequence[Callable[..., Any]] = (),
        **options: Unpack[WorkerOptions],
    ) -> None:
        validate_task_queue(task_queue)
        unknown = sorted(set(options) - set(WorkerOptions.__optional_keys__))
        if unknown:
            raise ConfigurationError(
                f"Worker does not take {', '.join(unknown)}: turnout.WorkerOptions lists the "
                "options it takes (docs/operations.md); remove "
                + ("it" if len(unknown) == 1 else "them")
            )
        if "interceptors" in options:
            check_worker_interceptors(options["interceptors"])
        kind = getattr(client, "executor", None)
        if kind == "internal":
            from turnout.config import load_settings
            from turnout.executors.internal.worker import InternalWorker

            _production_gate(load_settings(), client.store.url)  # type: ignore[attr-defined]

            self._backend: Any = InternalWorker(
                client,  # type: ignore[arg-type]
                task_queue=task_queue,
                workflows=workflows,
                activities=activities,
                **options,
            )
        elif kind == "temporal":
            from turnout.executors.temporal import TemporalWorker

            self._backend = TemporalWorker(
                client,  # type: ignore[arg-type]
                task_queue=task_queue,
                workflows=workflows,
                activities=activities,
                **options,
            )
        else:
            raise ConfigurationError(f"{client!r} is not a turnout client: use turnout.connect()")
        self.task_queue = task_queue

    async def start(self) -> None:
        """Begin polling for work."""
        await self._backend.start()

    async def shutdown(self) -> None:
        """Stop claiming, finish or release running work."""
        await self._backend.shutdown()

    async def run(self) -> None:
        """Start and block until shut down or cancelled."""
        await self._backend.run()

    async def __aenter__(self) -> Worker:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.shutdown()
