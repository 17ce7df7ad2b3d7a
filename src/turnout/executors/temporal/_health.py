"""Is a Temporal frontend ready? (used by ``turnout.testing`` and health checks)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client

__all__ = ["check_namespace"]


async def check_namespace(address: str, namespace: str, timeout: float) -> None:
    """Connect and describe ``namespace``; raise on any failure, within ``timeout`` seconds."""
    client = await asyncio.wait_for(Client.connect(address, namespace=namespace), timeout)
    await client.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace=namespace), timeout=timedelta(seconds=timeout)
    )
