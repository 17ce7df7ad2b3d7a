"""The published JSON Schema of the contracts."""

from __future__ import annotations

import json
from typing import Any

import pytest

import turnout.contracts
from turnout.contracts import EventType, RunState, json_schema

REQUIRED = {
    "Run": {
        "workflow_id",
        "run_id",
        "workflow_type",
        "task_queue",
        "correlation_id",
        "state",
        "requested_at",
    },
    "Event": {"run_id", "workflow_id", "seq", "type", "at", "correlation_id"},
    "Task": {
        "task_id",
        "workflow_id",
        "workflow_type",
        "task_queue",
        "correlation_id",
        "requested_at",
    },
    "PolicyDecision": {"decision_id", "run_id", "workflow_id", "name", "outcome", "decided_at"},
    "Artifact": {"artifact_id", "run_id", "workflow_id", "name", "uri", "created_at"},
}


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return json_schema()


def test_is_exported() -> None:
    assert "json_schema" in turnout.contracts.__all__


def test_is_valid_json(schema: dict[str, Any]) -> None:
    text = json.dumps(schema)
    assert json.loads(text) == schema


def test_declares_draft_2020_12(schema: dict[str, Any]) -> None:
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_has_each_record_with_its_required_fields(schema: dict[str, Any], name: str) -> None:
    definition = schema["$defs"][name]
    assert definition["type"] == "object"
    assert set(definition["required"]) == REQUIRED[name]
    assert REQUIRED[name] <= set(definition["properties"])


def test_has_the_other_models(schema: dict[str, Any]) -> None:
    assert {"Failure", "RetryPolicy", "QueueItem"} <= set(schema["$defs"])


def test_every_reference_resolves(schema: dict[str, Any]) -> None:
    refs: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                refs.append(ref)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    assert refs
    for ref in refs:
        assert ref.startswith("#/$defs/")
        assert ref.removeprefix("#/$defs/") in schema["$defs"]


def test_enums_list_every_value(schema: dict[str, Any]) -> None:
    assert set(schema["$defs"]["RunState"]["enum"]) == {s.value for s in RunState}
    assert set(schema["$defs"]["EventType"]["enum"]) == {t.value for t in EventType}


def test_is_a_fresh_copy_each_call() -> None:
    first = json_schema()
    first["$defs"].clear()
    assert json_schema()["$defs"]
