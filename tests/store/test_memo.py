"""Conformance: a run's memo, from its start through upserts to continue-as-new."""

from __future__ import annotations

from tests.store.conftest import QUEUE, claim_task, start
from tests.store.test_workflow_tasks import commit
from turnout.contracts.events import EventType
from turnout.executors.internal import commands as cmd
from turnout.executors.internal.store import SignalParams, Store


async def test_a_memo_is_kept_upserted_and_given_to_the_next_run(store: Store) -> None:
    run_id = await start(store, "memo", memo={"customer": "acme", "note": "rush"})
    snapshot, history = await store.load_history(run_id, 0)
    assert snapshot.memo == {"customer": "acme", "note": "rush"}
    assert history[0].attributes["memo"] == {"customer": "acme", "note": "rush"}

    item = await claim_task(store)
    await commit(store, item, [cmd.UpsertMemo({"stage": "packed", "note": None})])
    run = await store.find_run("default", "memo")
    assert run.memo_values == {"customer": "acme", "stage": "packed"}
    events = await store.events("default", run_id, 0)
    (modified,) = [e for e in events if e.type is EventType.WORKFLOW_PROPERTIES_MODIFIED]
    assert modified.attributes == {"upserted_memo": {"stage": "packed", "note": None}}

    await store.signal(SignalParams("default", run_id, "go", []))
    item = await claim_task(store)
    await commit(store, item, [cmd.ContinueAsNew(workflow_type="Flow", args=[], task_queue=QUEUE)])
    latest = await store.find_run("default", "memo")
    assert latest.run_id != run_id
    # As on Temporal: the memo the run started with, not its upserts.
    assert latest.memo_values == {"customer": "acme", "note": "rush"}


async def test_a_run_without_a_memo_has_none(store: Store) -> None:
    run_id = await start(store, "plain")
    snapshot, history = await store.load_history(run_id, 0)
    assert snapshot.memo is None
    assert "memo" not in history[0].attributes
    assert (await store.find_run("default", "plain")).memo_values == {}
