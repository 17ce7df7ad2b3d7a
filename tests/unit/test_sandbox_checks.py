"""The Temporal executor's sandbox checks each workflow class once per process.

A temporalio worker checks every workflow it is given by importing the class's module
in a fresh sandbox. turnout's runner keeps the verdict of a class that passed, so the
next worker of the process (a test suite starts hundreds) does not check it again; a
class that failed is checked, and fails, every time.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from temporalio.worker.workflow_sandbox import RestrictedWorkflowAccessError
from temporalio.workflow import _Definition

from turnout.executors.temporal._definitions import ensure_workflow, install
from turnout.executors.temporal._worker import SANDBOX_PASSED, SandboxCheckedOnce, sandbox_runner

MODULE = "tests.unit.sandbox_flows"


class Counting(SandboxCheckedOnce):
    """The runner, counting the sandboxes it makes."""

    made = 0

    def create_instance(self, det: Any) -> Any:
        Counting.made += 1
        return super().create_instance(det)


def _runner() -> Counting:
    return Counting(restrictions=sandbox_runner().restrictions)


@pytest.fixture
def flows(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A fresh import of the module of workflows (a class no runner checked yet)."""
    install()
    sys.modules.pop(MODULE, None)
    module = importlib.import_module(MODULE)
    ensure_workflow(module.Accepted)
    Counting.made = 0
    yield module
    sys.modules.pop(MODULE, None)


async def test_a_class_that_passed_is_not_checked_again_by_the_next_worker(flows: Any) -> None:
    defn = _Definition.must_from_class(flows.Accepted)
    _runner().prepare_workflow(defn)
    assert flows.Accepted in SANDBOX_PASSED
    _runner().prepare_workflow(defn)
    assert Counting.made == 1
    # A worker with failure types of its own checks the class again: they are imported
    # in the sandbox too.
    with_types = _runner()
    with_types.set_worker_level_failure_exception_types([flows.Refused])
    with pytest.raises(Exception, match="Refused"):
        with_types.prepare_workflow(defn)
    assert Counting.made == 2


async def test_a_class_that_failed_is_checked_and_fails_every_time(
    flows: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TURNOUT_TEST_SANDBOX_CLOCK", "1")  # its module now reads the clock
    defn = _Definition.must_from_class(flows.Accepted)
    for _ in range(2):
        with pytest.raises(RestrictedWorkflowAccessError):
            _runner().prepare_workflow(defn)
    assert Counting.made == 2
    assert not SANDBOX_PASSED.get(flows.Accepted)
