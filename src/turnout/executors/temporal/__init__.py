"""The Temporal executor: turnout definitions on a real Temporal cluster via temporalio.

This is the only package that imports ``temporalio``; ``import turnout`` works
without it, and asking for this executor without the ``temporal`` extra gives a
ConfigurationError naming the extra to install.

On Temporal a tenant is a namespace: :func:`namespace_for_tenant` says which.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import temporalio.service
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest

from turnout.config import Settings
from turnout.contracts.errors import ConfigurationError
from turnout.contracts.governance import validate_tenant
from turnout.contracts.records import DEFAULT_TENANT
from turnout.executors.temporal._client import TemporalClient, TemporalWorkflowHandle
from turnout.executors.temporal._definitions import install
from turnout.executors.temporal._replay import replay_temporal_history, replay_temporal_run
from turnout.executors.temporal._worker import TemporalWorker

__all__ = [
    "TemporalClient",
    "TemporalWorker",
    "TemporalWorkflowHandle",
    "connect_temporal",
    "namespace_for_tenant",
    "replay_temporal_history",
    "replay_temporal_run",
]

_DEFAULT_NAMESPACE = "default"


def namespace_for_tenant(tenant_id: str, configured_namespace: str) -> str:
    """The Temporal namespace of a tenant.

    A namespace is Temporal's unit of isolation (history, visibility, rate limits and
    authorization are all per namespace), so each tenant gets its own: tenant ``acme``
    is namespace ``acme``. The ``default`` tenant uses the configured namespace
    (``TURNOUT_TEMPORAL_NAMESPACE``). A tenant other than ``default`` together with a
    different, non-default configured namespace is ambiguous and refused.
    """
    tenant = validate_tenant(tenant_id)
    if tenant == DEFAULT_TENANT:
        return configured_namespace
    if configured_namespace in (_DEFAULT_NAMESPACE, tenant):
        return tenant
    raise ConfigurationError(
        f"tenant {tenant!r} and TURNOUT_TEMPORAL_NAMESPACE={configured_namespace!r} disagree: "
        f"on Temporal a tenant is a namespace (tenant {tenant!r} runs in namespace "
        f"{tenant!r}), because namespaces are what isolates history, visibility, rate limits "
        "and authorization. Unset TURNOUT_TEMPORAL_NAMESPACE (or set it to the tenant id), "
        f"or use tenant 'default' to work in namespace {configured_namespace!r}"
    )


async def connect_temporal(
    settings: Settings, *, workflows: Sequence[type] = (), interceptors: Sequence[object] = ()
) -> TemporalClient:
    """Connect to the Temporal frontend the settings name, in the tenant's namespace."""
    install()
    tenant = validate_tenant(settings.tenant_id)
    namespace = namespace_for_tenant(tenant, settings.temporal_namespace)
    client = await TemporalClient.open(
        settings.temporal_address,
        namespace,
        workflows=workflows,
        tenant_id=tenant,
        interceptors=interceptors,
    )
    await _check_namespace(client, settings.temporal_address, tenant)
    return client


async def _check_namespace(client: TemporalClient, address: str, tenant: str) -> None:
    """A ConfigurationError when the namespace does not exist (rather than every later
    call failing as if the workflow were not found)."""
    namespace = client.namespace
    try:
        await client.raw.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=namespace), timeout=timedelta(seconds=10)
        )
    except temporalio.service.RPCError as exc:
        if exc.status is not temporalio.service.RPCStatusCode.NOT_FOUND:
            return  # e.g. not allowed to describe it: the calls themselves will tell
        whose = f" (the namespace of tenant {tenant!r})" if tenant != DEFAULT_TENANT else ""
        raise ConfigurationError(
            f"the Temporal namespace {namespace!r}{whose} does not exist at {address}; "
            f"create it first: temporal operator namespace create --namespace {namespace}"
        ) from exc
