"""``turnout.worker``: the counterpart of ``temporalio.worker``.

``from temporalio.worker import Worker`` becomes ``from turnout.worker import Worker``:
``Worker(client, task_queue=..., workflows=[...], activities=[...])`` runs them on the
client's executor. An option turnout does not know is refused by name (a
ConfigurationError); :class:`~turnout.WorkerOptions` lists the ones it takes.
docs/compatibility.md lists what this module leaves out, and why.
"""

from turnout._connect import Worker
from turnout.contracts.worker_options import WorkerOptions
from turnout.replay import Replayer, WorkflowReplayResult, WorkflowReplayResults

__all__ = [
    "Replayer",
    "Worker",
    "WorkerOptions",
    "WorkflowReplayResult",
    "WorkflowReplayResults",
]
