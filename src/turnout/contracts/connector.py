"""What ``Client.connect`` calls.

The contracts name no executor, so ``Client.connect`` (on the protocol and on every
executor's client) calls a connector that ``turnout._connect`` installs when it is
imported (``connect_target``, which picks the executor from the target). ``turnout.client``,
``turnout.worker``, ``turnout.connect`` and ``turnout.Worker`` import it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from turnout.contracts.executor import Client

__all__ = ["Connector", "connect_through_hook", "install_connector"]

Connector = Callable[..., Awaitable["Client"]]
"""``(target_host, *, namespace, **options) -> Client``."""

_connector: list[Connector] = []


def install_connector(connector: Connector) -> None:
    """Install what ``Client.connect`` calls."""
    _connector[:] = [connector]


async def connect_through_hook(
    target_host: str | None, namespace: str, options: dict[str, Any]
) -> Client:
    """Connect through the installed connector: missing only when ``Client`` was imported
    from turnout's contracts rather than from ``turnout.client``."""
    if not _connector:
        raise RuntimeError(
            "Client.connect needs turnout's connector: import Client from turnout.client"
        )
    return await _connector[0](target_host, namespace=namespace, **options)
