"""The Temporal executor: turnout definitions on a real Temporal cluster via temporalio.

This is the only package that imports ``temporalio``; ``import turnout`` works
without it, and asking for this executor without the ``temporal`` extra gives a
ConfigurationError naming the extra to install.
"""

from __future__ import annotations

from collections.abc import Sequence

from turnout.config import Settings
from turnout.executors.temporal._client import TemporalClient, TemporalWorkflowHandle
from turnout.executors.temporal._definitions import install
from turnout.executors.temporal._replay import replay_temporal_run
from turnout.executors.temporal._worker import TemporalWorker

__all__ = [
    "TemporalClient",
    "TemporalWorker",
    "TemporalWorkflowHandle",
    "connect_temporal",
    "replay_temporal_run",
]


async def connect_temporal(settings: Settings, *, workflows: Sequence[type] = ()) -> TemporalClient:
    """Connect to the Temporal frontend the settings name."""
    install()
    return await TemporalClient.connect(
        settings.temporal_address, settings.temporal_namespace, workflows=workflows
    )
