"""Replay: re-run the current workflow code over a recorded history, on either executor.

A history recorded by the internal executor carries every input and result, so it
replays offline (``turnout events ID --json > history.json``, then
``turnout replay --from-file history.json``); a Temporal run is replayed with
temporalio's replayer against the history the server keeps.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from turnout.contracts.errors import ConfigurationError, NonDeterminismError
from turnout.contracts.events import Event, EventType
from turnout.contracts.history import WorkflowHistory
from turnout.contracts.worker_interceptors import check_worker_interceptors, worker_interceptors
from turnout.workflows._definitions import WorkflowDefinition
from turnout.workflows._dynamic import lookup

__all__ = [
    "ReplayResult",
    "Replayer",
    "WorkflowReplayResult",
    "WorkflowReplayResults",
    "replay_events",
    "replay_run",
]


@dataclass(frozen=True)
class ReplayResult:
    """The outcome of a replay."""

    deterministic: bool
    summary: str
    """What was replayed, or the first divergence (event seq, recorded, produced)."""


def _definition(workflow_type: str, workflows: Sequence[type]) -> WorkflowDefinition:
    defns = {d.name: d for d in map(WorkflowDefinition.must_from_class, workflows)}
    found = lookup(defns, workflow_type)  # a dynamic workflow replays any other type
    if found is not None:
        return found
    names = sorted(defns)
    raise ConfigurationError(
        f"workflow type {workflow_type!r} is not among the loaded workflows {names}; "
        "pass the module that defines it with --module"
    )


def replay_events(events: Sequence[Event], workflows: Sequence[type]) -> ReplayResult:
    """Replay an internal-executor history (its contract events) with the given code."""
    failure, summary = _replay_events(events, workflows)
    if failure is None:
        return ReplayResult(True, summary)
    if isinstance(failure, NonDeterminismError):
        return ReplayResult(False, str(failure))
    return ReplayResult(False, f"the workflow code raised during replay: {failure!r}")


def _replay_events(
    events: Sequence[Event],
    workflows: Sequence[type],
    failure_types: tuple[type[BaseException], ...] = (),
    interceptors: Sequence[Any] = (),
) -> tuple[BaseException | None, str]:
    """(the failure replay met, or None; what was replayed)."""
    from turnout.executors.internal.engine import WorkflowInstance, WorkflowTaskError
    from turnout.executors.internal.interception import WorkflowChain, inbound_classes
    from turnout.workflows._runtime import WorkflowInfo

    if not events or events[0].type is not EventType.WORKFLOW_STARTED:
        raise ConfigurationError("a history starts with its workflow_started event")
    first = events[0]
    attrs = first.attributes
    if "input" not in attrs:
        raise ConfigurationError(
            "this history carries no inputs (exported from the Temporal executor?); "
            "replay a Temporal run by its workflow id instead"
        )
    defn = _definition(str(attrs["workflow_type"]), workflows)
    info = WorkflowInfo(
        workflow_id=first.workflow_id,
        run_id=first.run_id,
        workflow_type=defn.name,
        task_queue=str(attrs.get("task_queue", "")),
        attempt=int(attrs.get("attempt", 1)),
        start_time=first.at,
        correlation_id=first.correlation_id,
        tenant_id=first.tenant_id,
    )
    instance = WorkflowInstance(defn, info, list(attrs["input"]), failure_types=failure_types)
    classes = inbound_classes(worker_interceptors(interceptors))
    if classes:  # replayed through the interceptors the run ran with
        instance.chain = WorkflowChain(classes, instance)
    try:
        instance.advance(events, events[-1].at, live=False)
    except WorkflowTaskError as exc:
        return exc.__cause__ or exc, ""
    finally:
        instance.dispose()
    return (
        None,
        f"{instance.task_count} workflow tasks, {len(events)} events of {first.workflow_id}",
    )


async def replay_run(
    client: Any, workflow_id: str, run_id: str | None, workflows: Sequence[type]
) -> ReplayResult:
    """Replay a recorded run, fetched through ``client`` (either executor)."""
    if client.executor == "temporal":
        from turnout.executors.temporal import replay_temporal_run

        ok, summary = await replay_temporal_run(client, workflow_id, run_id, workflows)
        return ReplayResult(ok, summary)
    history = await client.get_workflow_handle(workflow_id, run_id=run_id).events()
    return replay_events(history, workflows)


@dataclass(frozen=True)
class WorkflowReplayResult:
    """The replay of one history (temporalio's name): ``replay_failure`` is what replay
    met (a NonDeterminismError when the code no longer matches the history), or None."""

    history: WorkflowHistory
    replay_failure: BaseException | None


@dataclass(frozen=True)
class WorkflowReplayResults:
    """The replay of several histories: the failures, by run id."""

    replay_failures: Mapping[str, BaseException]


class Replayer:
    """Replays recorded histories with the current workflow code, as temporalio's
    ``Replayer``: a history the internal executor recorded replays on its engine, a
    Temporal one (from ``fetch_history()`` on the Temporal executor, or read back with
    ``WorkflowHistory.from_json`` from ``temporal workflow show --output json``) with
    temporalio's replayer. Nothing runs against a server.

    temporalio's options that tune its own machinery are accepted at their defaults and
    refused by name otherwise.
    """

    def __init__(
        self,
        *,
        workflows: Sequence[type],
        workflow_failure_exception_types: Sequence[type[BaseException]] = (),
        namespace: str = "ReplayNamespace",
        data_converter: Any = None,
        interceptors: Sequence[Any] = (),
        debug_mode: bool = False,
        **options: Any,
    ) -> None:
        unknown = sorted(options)
        if unknown:
            raise ConfigurationError(
                f"Replayer({unknown[0]}=...) is not supported: turnout replays with its own "
                "workflow runner and converter; pass workflows=, interceptors= and "
                "workflow_failure_exception_types= only"
            )
        check_worker_interceptors(interceptors)
        self._interceptors = list(interceptors)
        if not workflows:
            raise ConfigurationError("Replayer needs workflows=[...], the code to replay with")
        self._workflows = list(workflows)
        self._failure_types = tuple(workflow_failure_exception_types)

    async def replay_workflow(
        self, history: Any, *, raise_on_replay_failure: bool = True
    ) -> WorkflowReplayResult:
        """Replay one history; its failure is raised unless ``raise_on_replay_failure``
        is False, when it is returned in the result."""
        recorded = _as_history(history)
        if recorded.temporal is not None:
            from turnout.executors.temporal import replay_temporal_history

            failure: BaseException | None = await replay_temporal_history(
                recorded.workflow_id,
                recorded.temporal,
                self._workflows,
                interceptors=self._interceptors,
            )
        else:
            failure, _ = _replay_events(
                recorded.events, self._workflows, self._failure_types, self._interceptors
            )
        if failure is not None and raise_on_replay_failure:
            raise failure
        return WorkflowReplayResult(recorded, failure)

    async def replay_workflows(
        self, histories: Iterable[Any] | AsyncIterable[Any], *, raise_on_replay_failure: bool = True
    ) -> WorkflowReplayResults:
        """Replay each history in turn; the first failure is raised unless
        ``raise_on_replay_failure`` is False, when every failure is returned by run id."""
        failures: dict[str, BaseException] = {}
        async for history in _each(histories):
            result = await self.replay_workflow(
                history, raise_on_replay_failure=raise_on_replay_failure
            )
            if result.replay_failure is not None:
                failures[result.history.run_id] = result.replay_failure
        return WorkflowReplayResults(failures)


def _as_history(history: Any) -> WorkflowHistory:
    """turnout's WorkflowHistory, or temporalio's read through its JSON document."""
    if isinstance(history, WorkflowHistory):
        return history
    to_json_dict = getattr(history, "to_json_dict", None)
    if to_json_dict is None:
        raise TypeError(
            f"replay_workflow takes a WorkflowHistory (handle.fetch_history(), or "
            f"WorkflowHistory.from_json(...)), not {type(history).__name__}"
        )
    return WorkflowHistory.from_json(str(history.workflow_id), to_json_dict())


async def _each(histories: Iterable[Any] | AsyncIterable[Any]) -> AsyncIterator[Any]:
    if isinstance(histories, AsyncIterable):
        async for history in histories:
            yield history
    else:
        for history in histories:
            yield history
