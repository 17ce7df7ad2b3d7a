"""Parity with temporalio: the part of its API turnout supports, and what it leaves out.

A module written with ``from temporalio import workflow, activity`` should need only
its import line changed when it stays inside the supported subset. These tests hold
turnout to that promise:

- every name in ``SUPPORTED`` exists in temporalio and on turnout's counterpart (on
  both executors' clients and handles for the client API), is awaited the same way and
  takes the same positional parameters;
- the keyword arguments in ``KEYWORDS`` are accepted by temporalio and by turnout, and
  turnout never requires one that temporalio leaves optional;
- every public name of ``temporalio.workflow``, ``workflow.unsafe``,
  ``temporalio.activity``, ``Client`` and ``WorkflowHandle`` is listed in ``SUPPORTED``,
  ``UNSUPPORTED`` (with the reason) or ``IGNORED``, so a temporalio release that adds a
  name makes a test point at it.

Names are written as temporalio spells them, prefixed by where they live:
``workflow.X`` / ``workflow.unsafe.X`` (``temporalio.workflow`` and
``turnout.workflow``), ``activity.X`` (``temporalio.activity`` and
``turnout.activity``), ``Client.X`` (``temporalio.client.Client``; turnout's
``InternalClient`` and ``TemporalClient``) and ``WorkflowHandle.X``
(``temporalio.client.WorkflowHandle``; ``InternalWorkflowHandle`` and
``TemporalWorkflowHandle``). ``docs/compatibility.md`` explains the differences.

Run it with ``pytest --pyargs turnout.testing.contract``; no event loop is needed.
"""

from __future__ import annotations

import importlib
import inspect
from types import ModuleType
from typing import Any, ParamSpec, TypeVar

import pytest

# The one skip this module allows: it compares turnout with temporalio, so without the
# ``temporal`` extra there is nothing to compare with. CI installs temporalio, so the
# comparison always runs there. temporalio is reached through importlib after this guard
# (turnout itself imports it only under turnout.executors.temporal).
pytest.importorskip("temporalio")

from turnout import activity, workflow
from turnout.executors.internal.client import (
    InternalClient,
    InternalWorkflowHandle,
)
from turnout.executors.temporal import TemporalClient, TemporalWorkflowHandle

# -- the data ---------------------------------------------------------------------------

SUPPORTED: tuple[str, ...] = (
    # temporalio.workflow -> turnout.workflow
    "workflow.defn",
    "workflow.run",
    "workflow.signal",
    "workflow.query",
    "workflow.execute_activity",
    "workflow.start_activity",
    "workflow.execute_child_workflow",
    "workflow.start_child_workflow",
    "workflow.continue_as_new",
    "workflow.sleep",
    "workflow.wait_condition",
    "workflow.now",
    "workflow.uuid4",
    "workflow.random",
    "workflow.info",
    "workflow.in_workflow",
    "workflow.patched",
    "workflow.deprecate_patch",
    "workflow.logger",
    "workflow.Info",
    "workflow.ParentInfo",
    "workflow.unsafe",
    "workflow.unsafe.imports_passed_through",
    "workflow.unsafe.is_replaying",
    # temporalio.activity -> turnout.activity
    "activity.defn",
    "activity.heartbeat",
    "activity.info",
    "activity.is_cancelled",
    "activity.in_activity",
    "activity.logger",
    "activity.Info",
    # temporalio.client.Client -> InternalClient, TemporalClient
    "Client.start_workflow",
    "Client.execute_workflow",
    "Client.get_workflow_handle",
    "Client.list_workflows",
    # temporalio.client.WorkflowHandle -> InternalWorkflowHandle, TemporalWorkflowHandle
    "WorkflowHandle.id",
    "WorkflowHandle.run_id",
    "WorkflowHandle.result",
    "WorkflowHandle.signal",
    "WorkflowHandle.query",
    "WorkflowHandle.cancel",
    "WorkflowHandle.terminate",
    "WorkflowHandle.describe",
)
"""temporalio names turnout offers under the same name."""

TURNOUT_ONLY: tuple[str, ...] = (
    "Client.close",
    "Client.list_pending_approvals",
    "WorkflowHandle.events",
    "WorkflowHandle.approve",
    "WorkflowHandle.reject",
    "WorkflowHandle.approvals",
    "WorkflowHandle.policy_decisions",
    "WorkflowHandle.artifacts",
)
"""turnout's own additions that every executor's client and handle must have."""

_UPDATES = "updates are not supported: use a signal and a query"
_LOCAL = "local activities are not supported: use a regular activity"
_NEXUS = "Nexus is not supported"
_DYNAMIC = "dynamic workflows and handlers are not supported: declare each one by name"
_SANDBOX = "sandbox tuning and introspection are Temporal-only; turnout configures the sandbox"
_VERSIONING = "worker versioning is Temporal-only; use workflow.patched"
_SCHEDULES = "schedules and cron are not supported: start runs from your own scheduler"
_ACTIVITY_CLASS = "activities are functions: pass the function to execute_activity"
_STANDALONE = "activities run only inside workflows"
_CONNECTION = "connection details come from turnout's settings (TemporalClient.raw is temporalio's)"
_SEARCH = (
    "memo and search attributes are not supported (on Temporal the memo holds the correlation id)"
)

UNSUPPORTED: dict[str, str] = {
    # temporalio.workflow
    **dict.fromkeys(
        [
            "workflow.update",
            "workflow.UpdateInfo",
            "workflow.current_update_info",
            "workflow.get_update_handler",
            "workflow.set_update_handler",
            "workflow.UnfinishedUpdateHandlersWarning",
        ],
        _UPDATES,
    ),
    **dict.fromkeys(
        [
            "workflow.execute_local_activity",
            "workflow.execute_local_activity_class",
            "workflow.execute_local_activity_method",
            "workflow.start_local_activity",
            "workflow.start_local_activity_class",
            "workflow.start_local_activity_method",
            "workflow.LocalActivityConfig",
        ],
        _LOCAL,
    ),
    **dict.fromkeys(
        [
            "workflow.create_nexus_client",
            "workflow.NexusClient",
            "workflow.NexusOperationHandle",
            "workflow.NexusOperationCancellationType",
            "workflow.signal_with_start_workflow",
        ],
        _NEXUS,
    ),
    **dict.fromkeys(
        [
            "workflow.DynamicWorkflowConfig",
            "workflow.dynamic_config",
            "workflow.get_dynamic_query_handler",
            "workflow.get_dynamic_signal_handler",
            "workflow.get_dynamic_update_handler",
            "workflow.set_dynamic_query_handler",
            "workflow.set_dynamic_signal_handler",
            "workflow.set_dynamic_update_handler",
        ],
        _DYNAMIC,
    ),
    **dict.fromkeys(
        [
            "workflow.execute_activity_class",
            "workflow.execute_activity_method",
            "workflow.start_activity_class",
            "workflow.start_activity_method",
        ],
        _ACTIVITY_CLASS,
    ),
    **dict.fromkeys(["workflow.memo", "workflow.memo_value", "workflow.upsert_memo"], _SEARCH),
    "workflow.upsert_search_attributes": _SEARCH,
    **dict.fromkeys(
        ["workflow.VersioningIntent", "workflow.ContinueAsNewVersioningBehavior"], _VERSIONING
    ),
    **dict.fromkeys(
        [
            "workflow.get_last_completion_result",
            "workflow.has_last_completion_result",
            "workflow.get_last_failure",
        ],
        _SCHEDULES,
    ),
    **dict.fromkeys(
        ["workflow.SandboxImportNotificationPolicy", "workflow.extern_functions"], _SANDBOX
    ),
    **dict.fromkeys(
        [
            "workflow.get_query_handler",
            "workflow.set_query_handler",
            "workflow.get_signal_handler",
            "workflow.set_signal_handler",
        ],
        "handlers are declared with @workflow.signal / @workflow.query only",
    ),
    **dict.fromkeys(
        [
            "workflow.get_external_workflow_handle",
            "workflow.get_external_workflow_handle_for",
            "workflow.ExternalWorkflowHandle",
        ],
        "signal or cancel other workflows from an activity that uses a client",
    ),
    **dict.fromkeys(
        ["workflow.EventGroup", "workflow.create_event_group"],
        "event groups (grouping commands for the UI) are not supported",
    ),
    **dict.fromkeys(
        ["workflow.get_current_details", "workflow.set_current_details"],
        "current details are shown by Temporal's UI only",
    ),
    **dict.fromkeys(
        ["workflow.new_random", "workflow.random_seed", "workflow.register_random_seed_callback"],
        "workflow.random() is the one deterministic generator",
    ),
    **dict.fromkeys(["workflow.time", "workflow.time_ns"], "use workflow.now()"),
    "workflow.uuid7": "use workflow.uuid4()",
    "workflow.ActivityConfig": "pass activity options as keyword arguments",
    "workflow.ChildWorkflowConfig": "pass child workflow options as keyword arguments",
    "workflow.ActivityCancellationType": "no cancellation_type: a cancelled activity's await "
    "raises at once while the cancel request is delivered (TRY_CANCEL)",
    "workflow.ChildWorkflowCancellationType": "no cancellation_type option for children",
    "workflow.ParentClosePolicy": "no parent_close_policy option: await your children",
    "workflow.HandlerUnfinishedPolicy": "no unfinished_policy option on signal handlers",
    "workflow.UnfinishedSignalHandlersWarning": "no unfinished_policy option on signal handlers",
    "workflow.RootInfo": "workflow.info() has the parent, not the root",
    "workflow.init": "the workflow class is created without arguments; input goes to run",
    "workflow.instance": "the workflow object is self",
    "workflow.all_handlers_finished": "handler bookkeeping is not offered: wait on your own flag",
    "workflow.cancellation_reason": "cancel requests carry no reason",
    "workflow.is_failure_exception": "no failure_exception_types option on workflow.defn",
    "workflow.metric_meter": "metrics are not part of the authoring API",
    "workflow.payload_converter": "turnout serializes with pydantic from the type hints",
    "workflow.as_completed": "use asyncio.gather (asyncio's set-returning helpers iterate in "
    "no fixed order)",
    "workflow.wait": "use asyncio.gather (asyncio's set-returning helpers iterate in no "
    "fixed order)",
    "workflow.NondeterminismError": "turnout reports it as turnout.NonDeterminismError",
    "workflow.ReadOnlyContextError": "a query handler that schedules work fails the query",
    # temporalio.workflow.unsafe
    **dict.fromkeys(
        [
            "workflow.unsafe.current_import_notification_policy_override",
            "workflow.unsafe.in_sandbox",
            "workflow.unsafe.is_imports_passed_through",
            "workflow.unsafe.is_read_only",
            "workflow.unsafe.is_sandbox_unrestricted",
            "workflow.unsafe.sandbox_import_notification_policy",
            "workflow.unsafe.sandbox_unrestricted",
        ],
        _SANDBOX,
    ),
    "workflow.unsafe.is_replaying_history_events": "use workflow.unsafe.is_replaying()",
    # temporalio.activity
    **dict.fromkeys(
        ["activity.cancellation_details", "activity.ActivityCancellationDetails"],
        "cancellation carries no details: check activity.is_cancelled()",
    ),
    **dict.fromkeys(
        ["activity.wait_for_cancelled", "activity.wait_for_cancelled_sync"],
        "heartbeat and check activity.is_cancelled() (async activities are also cancelled)",
    ),
    **dict.fromkeys(
        [
            "activity.is_worker_shutdown",
            "activity.wait_for_worker_shutdown",
            "activity.wait_for_worker_shutdown_sync",
        ],
        "shutdown gives activities a grace period, then cancels them",
    ),
    "activity.client": "connect with turnout.connect() where an activity needs a client",
    "activity.raise_complete_async": "asynchronous activity completion is not supported",
    "activity.shield_thread_cancel_exception": "sync activities check activity.is_cancelled()",
    "activity.metric_meter": "metrics are not part of the authoring API",
    "activity.payload_converter": "turnout serializes with pydantic from the type hints",
    # temporalio.client.Client
    "Client.connect": "turnout.connect() picks the executor from settings",
    **dict.fromkeys(
        [
            "Client.api_key",
            "Client.config",
            "Client.data_converter",
            "Client.identity",
            "Client.namespace",
            "Client.rpc_metadata",
            "Client.service_client",
            "Client.workflow_service",
            "Client.operator_service",
            "Client.test_service",
        ],
        _CONNECTION,
    ),
    **dict.fromkeys(
        ["Client.create_schedule", "Client.get_schedule_handle", "Client.list_schedules"],
        _SCHEDULES,
    ),
    **dict.fromkeys(
        ["Client.execute_update_with_start_workflow", "Client.start_update_with_start_workflow"],
        _UPDATES,
    ),
    **dict.fromkeys(
        [
            "Client.count_nexus_operations",
            "Client.create_nexus_client",
            "Client.get_nexus_operation_handle",
            "Client.list_nexus_operations",
        ],
        _NEXUS,
    ),
    **dict.fromkeys(
        [
            "Client.count_activities",
            "Client.execute_activity",
            "Client.execute_activity_class",
            "Client.execute_activity_method",
            "Client.get_activity_handle",
            "Client.list_activities",
            "Client.start_activity",
            "Client.start_activity_class",
            "Client.start_activity_method",
        ],
        _STANDALONE,
    ),
    **dict.fromkeys(
        [
            "Client.get_worker_build_id_compatibility",
            "Client.get_worker_task_reachability",
            "Client.update_worker_build_id_compatibility",
        ],
        _VERSIONING,
    ),
    "Client.get_async_activity_handle": "asynchronous activity completion is not supported",
    "Client.count_workflows": "list_workflows(state=..., workflow_type=...) returns the runs",
    "Client.get_workflow_handle_for": "use get_workflow_handle",
    # temporalio.client.WorkflowHandle
    **dict.fromkeys(
        [
            "WorkflowHandle.execute_update",
            "WorkflowHandle.start_update",
            "WorkflowHandle.get_update_handle",
            "WorkflowHandle.get_update_handle_for",
        ],
        _UPDATES,
    ),
    **dict.fromkeys(
        ["WorkflowHandle.fetch_history", "WorkflowHandle.fetch_history_events"],
        "handle.events() returns the executor-independent timeline",
    ),
    "WorkflowHandle.first_execution_run_id": "not on every executor's handle: use run_id",
    "WorkflowHandle.result_run_id": "use run_id",
}
"""temporalio names turnout deliberately lacks, each with the reason."""

IGNORED: frozenset[str] = frozenset(
    {
        # Types of values turnout hands out; workflow code does not construct them.
        "workflow.ActivityHandle",
        "workflow.ChildWorkflowHandle",
        "workflow.LoggerAdapter",
        "workflow.UpdateMethodMultiParam",
        "workflow.ContinueAsNewError",
        "activity.LoggerAdapter",
    }
)
"""Public temporalio types users do not call directly; no parity is claimed for them."""

_ACTIVITY_OPTIONS = (
    "args",
    "task_queue",
    "schedule_to_close_timeout",
    "schedule_to_start_timeout",
    "start_to_close_timeout",
    "heartbeat_timeout",
    "retry_policy",
    "activity_id",
    "result_type",
)
_CHILD_OPTIONS = ("args", "id", "task_queue", "execution_timeout", "retry_policy", "result_type")
_START_OPTIONS = (
    "args",
    "id",
    "task_queue",
    "id_reuse_policy",
    "id_conflict_policy",
    "execution_timeout",
    "retry_policy",
)

KEYWORDS: dict[str, tuple[str, ...]] = {
    "workflow.defn": ("name", "sandboxed"),
    "workflow.signal": ("name",),
    "workflow.query": ("name",),
    "workflow.execute_activity": _ACTIVITY_OPTIONS,
    "workflow.start_activity": _ACTIVITY_OPTIONS,
    "workflow.execute_child_workflow": _CHILD_OPTIONS,
    "workflow.start_child_workflow": _CHILD_OPTIONS,
    "workflow.continue_as_new": ("args", "workflow"),
    "workflow.wait_condition": ("timeout",),
    "activity.defn": ("name",),
    "Client.start_workflow": _START_OPTIONS,
    "Client.execute_workflow": _START_OPTIONS,
    "Client.get_workflow_handle": ("run_id", "result_type"),
    "Client.list_workflows": ("limit",),
    "WorkflowHandle.result": ("follow_runs",),
    "WorkflowHandle.signal": ("args",),
    "WorkflowHandle.query": ("args",),
    "WorkflowHandle.terminate": ("reason",),
}
"""Keyword arguments of the key calls that must mean the same on temporalio and turnout."""

FORWARDED: dict[str, str] = {
    "Client.execute_workflow": "Client.start_workflow",
}
"""Calls that may take ``**options`` and pass them on; their keywords are checked there."""

KIND_DIFFERENCES: dict[str, str] = {
    "Client.list_workflows": "turnout's is awaited and returns a list of Run records; "
    "temporalio's returns an async iterator",
}
"""Supported calls that are awaited differently on purpose."""

POSITIONAL_DIFFERENCES: dict[str, str] = {
    "workflow.patched": "the parameter is patch_id (temporalio: id); positional calls match",
    "workflow.deprecate_patch": "the parameter is patch_id (temporalio: id); positional calls "
    "match",
    "Client.list_workflows": "turnout filters by keyword (state, workflow_type, task_queue) "
    "instead of a positional visibility query",
    "WorkflowHandle.terminate": "turnout takes only reason; temporalio takes details "
    "positionally and reason by keyword",
}
"""Supported calls whose positional parameters differ on purpose."""

# -- where the names live ---------------------------------------------------------------

_temporalio_workflow = importlib.import_module("temporalio.workflow")
_temporalio_activity = importlib.import_module("temporalio.activity")
_temporalio_client = importlib.import_module("temporalio.client")

TEMPORALIO: dict[str, Any] = {
    "workflow": _temporalio_workflow,
    "workflow.unsafe": _temporalio_workflow.unsafe,
    "activity": _temporalio_activity,
    "Client": _temporalio_client.Client,
    "WorkflowHandle": _temporalio_client.WorkflowHandle,
}
TURNOUT: dict[str, tuple[Any, ...]] = {
    "workflow": (workflow,),
    "workflow.unsafe": (workflow.unsafe,),
    "activity": (activity,),
    "Client": (InternalClient, TemporalClient),
    "WorkflowHandle": (InternalWorkflowHandle, TemporalWorkflowHandle),
}
_BY_LENGTH = sorted(TEMPORALIO, key=len, reverse=True)


def _split(name: str) -> tuple[str, str]:
    """``workflow.unsafe.is_replaying`` -> (``workflow.unsafe``, ``is_replaying``)."""
    for surface in _BY_LENGTH:
        if name.startswith(surface + ".") and "." not in name[len(surface) + 1 :]:
            return surface, name[len(surface) + 1 :]
    raise ValueError(f"{name!r} does not start with one of {sorted(TEMPORALIO)}")


_LABELS: dict[int, str] = {
    id(workflow): "turnout.workflow",
    id(workflow.unsafe): "turnout.workflow.unsafe",
    id(activity): "turnout.activity",
}


def _label(target: Any) -> str:
    return _LABELS.get(id(target)) or str(target.__qualname__)


def _turnout_targets(names: tuple[str, ...]) -> list[Any]:
    params = []
    for name in names:
        surface, attr = _split(name)
        for target in TURNOUT[surface]:
            params.append(pytest.param(name, target, attr, id=f"{name}-{_label(target)}"))
    return params


def _is_public_api(value: Any, *, in_module: bool) -> bool:
    """Whether a public attribute is part of temporalio's API, not a re-export for typing."""
    if isinstance(value, ModuleType | TypeVar | ParamSpec):
        return False
    if not in_module:
        return True
    origin = getattr(value, "__module__", None) or ""
    return origin.startswith("temporalio.") and origin != "temporalio.types"


def _public_temporalio_names() -> set[str]:
    names: set[str] = set()
    for surface, owner in TEMPORALIO.items():
        in_module = isinstance(owner, ModuleType)
        for attr in dir(owner):
            if attr.startswith("_"):
                continue
            if _is_public_api(inspect.getattr_static(owner, attr), in_module=in_module):
                names.add(f"{surface}.{attr}")
    return names


def _signature(owner: Any, attr: str) -> inspect.Signature:
    """The call signature as users see it (``self`` dropped for methods)."""
    value = inspect.getattr_static(owner, attr)
    if isinstance(value, staticmethod | classmethod):
        value = value.__func__
    parameters = list(inspect.signature(value).parameters.values())
    if not isinstance(owner, ModuleType) and parameters and parameters[0].name == "self":
        parameters = parameters[1:]
    return inspect.Signature(parameters)


def _is_async(owner: Any, attr: str) -> bool:
    value = inspect.getattr_static(owner, attr)
    if isinstance(value, staticmethod | classmethod):
        value = value.__func__
    return inspect.iscoroutinefunction(value)


def _is_routine(owner: Any, attr: str) -> bool:
    value = inspect.getattr_static(owner, attr, None)
    return isinstance(value, staticmethod | classmethod) or inspect.isfunction(value)


def _positional(signature: inspect.Signature) -> list[str]:
    out = []
    for p in signature.parameters.values():
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            out.append(p.name)
        elif p.kind is p.VAR_POSITIONAL:
            out.append("*" + p.name)
    return out


_BY_KEYWORD = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


def _required(p: inspect.Parameter) -> bool:
    return p.default is inspect.Parameter.empty


def _turnout_keywords(name: str, target: Any, attr: str) -> dict[str, inspect.Parameter]:
    """The keyword parameters of a turnout call, following ``**options`` passed on."""
    params = _signature(target, attr).parameters.values()
    keywords = {p.name: p for p in params if p.kind in _BY_KEYWORD}
    if name in FORWARDED and any(p.kind is p.VAR_KEYWORD for p in params):
        _, forwarded_attr = _split(FORWARDED[name])
        keywords = {**_turnout_keywords(FORWARDED[name], target, forwarded_attr), **keywords}
    return keywords


# -- the data itself is consistent ------------------------------------------------------


def test_the_lists_do_not_overlap() -> None:
    supported = set(SUPPORTED)
    assert len(supported) == len(SUPPORTED), "SUPPORTED lists a name twice"
    assert supported.isdisjoint(UNSUPPORTED), sorted(supported & set(UNSUPPORTED))
    assert supported.isdisjoint(IGNORED), sorted(supported & IGNORED)
    assert IGNORED.isdisjoint(UNSUPPORTED), sorted(IGNORED & set(UNSUPPORTED))


def test_every_listed_name_names_a_known_place() -> None:
    for name in [*SUPPORTED, *TURNOUT_ONLY, *UNSUPPORTED, *IGNORED, *KEYWORDS]:
        _split(name)  # raises for a name outside the five surfaces


@pytest.mark.parametrize("name", sorted(UNSUPPORTED))
def test_each_unsupported_name_has_a_one_line_reason(name: str) -> None:
    reason = UNSUPPORTED[name]
    assert reason.strip(), f"{name} needs a reason"
    assert "\n" not in reason


def test_the_detail_lists_only_name_supported_calls() -> None:
    for table in (KEYWORDS, FORWARDED, KIND_DIFFERENCES, POSITIONAL_DIFFERENCES):
        assert set(table) <= set(SUPPORTED), sorted(set(table) - set(SUPPORTED))


# -- temporalio's side ------------------------------------------------------------------


def test_every_public_temporalio_name_is_classified() -> None:
    """A temporalio release that adds a public name fails here, naming it.

    Put each new name in SUPPORTED (once turnout has it), in UNSUPPORTED with the
    reason, or in IGNORED when it is a type users do not call directly.
    """
    classified = set(SUPPORTED) | set(UNSUPPORTED) | IGNORED
    unclassified = sorted(_public_temporalio_names() - classified)
    assert unclassified == [], (
        f"temporalio names not classified in {__name__}: {unclassified}; add each to "
        f"SUPPORTED, UNSUPPORTED (with a reason) or IGNORED"
    )


@pytest.mark.parametrize("name", SUPPORTED)
def test_each_supported_name_exists_in_temporalio(name: str) -> None:
    surface, attr = _split(name)
    assert hasattr(TEMPORALIO[surface], attr), f"temporalio has no {name}: fix SUPPORTED"


# -- turnout's side ---------------------------------------------------------------------


@pytest.mark.parametrize(("name", "target", "attr"), _turnout_targets(SUPPORTED))
def test_turnout_has_each_supported_name(name: str, target: Any, attr: str) -> None:
    assert hasattr(target, attr), f"{_label(target)} lacks {attr} (temporalio {name})"


@pytest.mark.parametrize(("name", "target", "attr"), _turnout_targets(TURNOUT_ONLY))
def test_every_executor_has_turnouts_own_additions(name: str, target: Any, attr: str) -> None:
    assert hasattr(target, attr), f"{_label(target)} lacks {attr}"


@pytest.mark.parametrize("name", sorted(UNSUPPORTED))
def test_unsupported_names_are_really_missing(name: str) -> None:
    """When turnout gains a name on every executor, move it to SUPPORTED."""
    surface, attr = _split(name)
    assert not all(hasattr(target, attr) for target in TURNOUT[surface]), (
        f"turnout now has {name}: move it from UNSUPPORTED to SUPPORTED"
    )


@pytest.mark.parametrize(("name", "target", "attr"), _turnout_targets(SUPPORTED))
def test_supported_calls_are_awaited_the_same_way(name: str, target: Any, attr: str) -> None:
    surface, _ = _split(name)
    theirs = TEMPORALIO[surface]
    if not (_is_routine(theirs, attr) and _is_routine(target, attr)):
        return  # a type, a property or the logger: nothing is called
    if name in KIND_DIFFERENCES:
        assert _is_async(theirs, attr) != _is_async(target, attr), (
            f"{name} is listed in KIND_DIFFERENCES but is awaited the same way: remove it"
        )
        return
    assert _is_async(target, attr) == _is_async(theirs, attr), (
        f"{_label(target)}.{attr} is {'async' if _is_async(target, attr) else 'sync'}, "
        f"temporalio's {name} is not"
    )


@pytest.mark.parametrize(("name", "target", "attr"), _turnout_targets(SUPPORTED))
def test_supported_calls_take_the_same_positional_parameters(
    name: str, target: Any, attr: str
) -> None:
    surface, _ = _split(name)
    theirs = TEMPORALIO[surface]
    if not (_is_routine(theirs, attr) and _is_routine(target, attr)):
        return
    ours_positional = _positional(_signature(target, attr))
    theirs_positional = _positional(_signature(theirs, attr))
    if name in POSITIONAL_DIFFERENCES:
        assert ours_positional != theirs_positional, (
            f"{name} is listed in POSITIONAL_DIFFERENCES but matches: remove it"
        )
        return
    assert ours_positional == theirs_positional, (
        f"{_label(target)}.{attr} takes {ours_positional} positionally, "
        f"temporalio's {name} takes {theirs_positional}"
    )


@pytest.mark.parametrize(("name", "target", "attr"), _turnout_targets(tuple(KEYWORDS)))
def test_key_calls_accept_temporalios_keywords(name: str, target: Any, attr: str) -> None:
    surface, _ = _split(name)
    theirs = _signature(TEMPORALIO[surface], attr).parameters
    ours = _turnout_keywords(name, target, attr)
    problems = []
    for keyword in KEYWORDS[name]:
        their_param = theirs.get(keyword)
        if their_param is None or their_param.kind not in _BY_KEYWORD:
            problems.append(f"temporalio's {name} takes no keyword {keyword!r}: fix KEYWORDS")
            continue
        our_param = ours.get(keyword)
        if our_param is None:
            problems.append(f"{_label(target)}.{attr} takes no keyword {keyword!r}")
        elif _required(our_param) and not _required(their_param):
            problems.append(
                f"{_label(target)}.{attr} requires {keyword!r}, temporalio leaves it optional"
            )
    assert not problems, "\n".join(problems)
