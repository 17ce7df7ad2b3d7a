"""Task tokens of the internal executor, and what ``get_async_activity_handle`` refuses:
a malformed token or a wrong mix of arguments is a one-line ValueError, before any I/O."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from turnout.client import AsyncActivityIDReference, Client
from turnout.contracts.async_activity import async_activity_target
from turnout.executors.internal.async_activity import TokenTarget, read_task_token, task_token
from turnout.executors.internal.store import ClaimedItem

_NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _item(item_id: int, attempt: int) -> ClaimedItem:
    return ClaimedItem(
        id=item_id,
        kind="activity_task",
        run_id="r",
        workflow_id="wf",
        tenant_id="default",
        task_queue="q",
        name="act",
        ref="1",
        payload={"activity_id": "1"},
        attempt=attempt,
        lease_owner="w1",
        lease_expires_at=_NOW,
        started_at=_NOW,
        deadline_at=None,
        heartbeat_details=None,
        created_at=_NOW,
    )


def test_a_task_token_names_the_item_and_the_attempt() -> None:
    token = task_token(_item(42, 3))
    assert isinstance(token, bytes)
    assert read_task_token(token) == TokenTarget(item_id=42, attempt=3)
    assert task_token(_item(42, 4)) != token  # each attempt has its own


def _encoded(body: bytes) -> bytes:
    return b"turnout-activity:" + base64.urlsafe_b64encode(body)


@pytest.mark.parametrize(
    "token",
    [
        b"",
        b"garbage",
        b"\xff\xfe\x00",
        b"turnout-activity:",
        b"turnout-activity:!!!not base64!!!",
        _encoded(b"not json"),
        _encoded(b"[1]"),
        _encoded(b'["1", 1]'),
        _encoded(b"[1, 1.5]"),
        _encoded(b"[0, 1]"),
        _encoded(b"[1, -1]"),
        _encoded(b"[true, 1]"),
        _encoded(b'{"id": 1}'),
    ],
)
def test_a_malformed_token_is_a_one_line_error(token: bytes) -> None:
    with pytest.raises(ValueError, match="is not a turnout activity task token") as refused:
        read_task_token(token)
    assert "\n" not in str(refused.value)
    assert "activity.info().task_token" in str(refused.value)


async def test_the_internal_client_refuses_a_malformed_token_at_once(tmp_path: Path) -> None:
    client = await Client.connect(f"sqlite:///{tmp_path}/t.db")
    try:
        with pytest.raises(ValueError, match="not a turnout activity task token"):
            client.get_async_activity_handle(task_token=b"not-a-token")
        handle = client.get_async_activity_handle(task_token=task_token(_item(7, 1)))
        assert handle.id_or_token == task_token(_item(7, 1))
    finally:
        await client.close()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({}, "needs task_token"),
        ({"activity_id": "1"}, "needs task_token"),
        ({"workflow_id": "wf"}, "needs task_token"),
        ({"task_token": b"t", "activity_id": "1"}, "not both"),
        ({"task_token": "a string"}, "must be bytes"),
    ],
)
def test_the_arguments_name_a_token_or_the_ids(arguments: dict[str, Any], message: str) -> None:
    unset: dict[str, Any] = dict.fromkeys(["workflow_id", "run_id", "activity_id", "task_token"])
    with pytest.raises(ValueError, match=message) as refused:
        async_activity_target(**(unset | arguments))
    assert "\n" not in str(refused.value)


def test_ids_name_the_workflows_open_run_without_a_run_id() -> None:
    target = async_activity_target(workflow_id="wf", run_id=None, activity_id="1", task_token=None)
    assert target == AsyncActivityIDReference(workflow_id="wf", run_id=None, activity_id="1")
