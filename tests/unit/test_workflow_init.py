"""``@workflow.init``: validated as temporalio validates it, recorded in the definition,
and carried to temporalio's definition on the Temporal executor."""

from __future__ import annotations

import pytest

from turnout import workflow
from turnout.workflows import WorkflowDefinition


@workflow.defn
class TakesInput:
    @workflow.init
    def __init__(self, name: str, count: int) -> None:
        self.greeting = name * count

    @workflow.run
    async def run(self, who: str, times: int) -> str:
        return self.greeting


class Base:
    @workflow.init
    def __init__(self, name: str) -> None:
        self.name = name


@workflow.defn
class InheritsInit(Base):
    @workflow.run
    async def run(self, name: str) -> str:
        return self.name


@workflow.defn
class PlainInit:
    def __init__(self) -> None:
        self.name = "plain"

    @workflow.run
    async def run(self, name: str) -> str:
        return self.name


def test_the_object_is_made_with_the_run_input() -> None:
    defn = WorkflowDefinition.must_from_class(TakesInput)
    assert defn.init_fn is TakesInput.__init__
    assert defn.new_instance(["ab", 2]).greeting == "abab"


def test_an_inherited_init_counts() -> None:
    defn = WorkflowDefinition.must_from_class(InheritsInit)
    assert defn.init_fn is Base.__init__
    assert defn.new_instance(["x"]).name == "x"


def test_without_init_the_object_is_made_without_arguments() -> None:
    defn = WorkflowDefinition.must_from_class(PlainInit)
    assert defn.init_fn is None
    assert defn.new_instance(["ignored"]).name == "plain"


def test_init_decorates_only_init() -> None:
    def setup(self: object, name: str) -> None: ...

    with pytest.raises(ValueError, match="only be used on the __init__ method"):
        workflow.init(setup)


def _workflow_class(init_signature: str, run_signature: str) -> type:
    source = (
        "@workflow.defn\n"
        "class Checked:\n"
        "    @workflow.init\n"
        f"    def __init__({init_signature}) -> None: ...\n"
        "    @workflow.run\n"
        f"    async def run({run_signature}) -> str: ...\n"
    )
    namespace: dict[str, object] = {"workflow": workflow, "__name__": __name__}
    exec(source, namespace)
    cls = namespace["Checked"]
    assert isinstance(cls, type)
    return cls


def test_init_parameters_may_differ_from_the_run_method_in_names_only() -> None:
    cls = _workflow_class("self, other: str", "self, name: str")
    assert WorkflowDefinition.must_from_class(cls).init_fn is not None


@pytest.mark.parametrize(
    "init_signature",
    ["self, name: int", "self, name", "self, name: str, extra: int", "self, name: str = 'x'"],
)
def test_init_parameters_must_match_the_run_method(init_signature: str) -> None:
    with pytest.raises(ValueError, match="parameters do not match"):
        _workflow_class(init_signature, "self, name: str")


def test_temporal_definition_carries_the_init_marker() -> None:
    pytest.importorskip("temporalio")
    from turnout.executors.temporal._definitions import ensure_workflow

    ensure_workflow(TakesInput)
    assert getattr(TakesInput.__init__, "__temporal_workflow_init", False) is True
    assert "__temporal_workflow_definition" in vars(TakesInput)
