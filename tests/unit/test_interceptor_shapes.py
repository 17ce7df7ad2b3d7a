"""turnout's interceptor classes have temporalio's shape: the same method names, each
async where temporalio's is, and input records whose fields temporalio's records have
too, so one interceptor class runs on either executor."""

from __future__ import annotations

import dataclasses
import inspect

import pytest
import temporalio.client
import temporalio.worker

import turnout.client
import turnout.worker
from turnout import ConfigurationError

PAIRS = [
    (turnout.client.OutboundInterceptor, temporalio.client.OutboundInterceptor),
    (turnout.worker.WorkflowInboundInterceptor, temporalio.worker.WorkflowInboundInterceptor),
    (turnout.worker.WorkflowOutboundInterceptor, temporalio.worker.WorkflowOutboundInterceptor),
    (turnout.worker.ActivityInboundInterceptor, temporalio.worker.ActivityInboundInterceptor),
    (turnout.worker.ActivityOutboundInterceptor, temporalio.worker.ActivityOutboundInterceptor),
    (turnout.worker.Interceptor, temporalio.worker.Interceptor),
    (turnout.client.Interceptor, temporalio.client.Interceptor),
]

RECORDS = [
    *(
        (getattr(turnout.client, n), getattr(temporalio.client, n))
        for n in [
            "StartWorkflowInput",
            "SignalWorkflowInput",
            "QueryWorkflowInput",
            "StartWorkflowUpdateInput",
            "CancelWorkflowInput",
            "TerminateWorkflowInput",
            "DescribeWorkflowInput",
        ]
    ),
    *(
        (getattr(turnout.worker, n), getattr(temporalio.worker, n))
        for n in [
            "ExecuteActivityInput",
            "ExecuteWorkflowInput",
            "HandleSignalInput",
            "HandleQueryInput",
            "HandleUpdateInput",
            "StartActivityInput",
            "StartLocalActivityInput",
            "StartChildWorkflowInput",
            "SignalChildWorkflowInput",
            "SignalExternalWorkflowInput",
            "ContinueAsNewInput",
        ]
    ),
]


def _methods(cls: type) -> dict[str, bool]:
    return {
        name: inspect.iscoroutinefunction(fn)
        for name, fn in vars(cls).items()
        if inspect.isfunction(fn) and not name.startswith("_")
    }


@pytest.mark.parametrize(("ours", "theirs"), PAIRS, ids=lambda c: c.__qualname__)
def test_each_method_is_temporalios_and_as_async(ours: type, theirs: type) -> None:
    mine = _methods(ours)
    temporalio_methods = _methods(theirs)
    assert mine, f"{ours.__qualname__} has no methods"
    assert set(mine) <= set(temporalio_methods)
    assert {n: temporalio_methods[n] for n in mine} == mine


@pytest.mark.parametrize(("ours", "theirs"), RECORDS, ids=lambda c: c.__qualname__)
def test_each_record_field_is_one_temporalio_has(ours: type, theirs: type) -> None:
    own_extras = {"target", "options", "idempotency_key", "correlation_id"}
    fields = {f.name for f in dataclasses.fields(ours)} - own_extras
    assert "args" in fields or "id" in fields
    assert fields <= {f.name for f in dataclasses.fields(theirs)}


def test_a_replayer_takes_worker_interceptors_and_refuses_anything_else() -> None:
    class Nothing(turnout.worker.Interceptor):
        pass

    turnout.worker.Replayer(workflows=[object], interceptors=[Nothing()])
    with pytest.raises(ConfigurationError, match=r"interceptors\[0\] \(str\) is not a worker"):
        turnout.worker.Replayer(workflows=[object], interceptors=["tracing"])
    with pytest.raises(ConfigurationError, match=r"Replayer\(workflow_runner=\.\.\.\)"):
        turnout.worker.Replayer(workflows=[object], workflow_runner=object())
