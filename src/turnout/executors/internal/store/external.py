"""Signals and cancel requests one workflow sends another through an external workflow
handle, applied in the sender's commit, as Temporal does it.

The target is the tenant's run of the workflow id (the handle's run id, else its latest
run). A signal needs it open: it gets ``signal_received`` and a workflow task. A cancel
request needs it to exist: an open run gets ``workflow_cancel_requested`` (once), a
closed one is left as it is. The sender gets the answer on its own timeline
(``external_workflow_signaled``, ``external_workflow_cancel_requested``) or, when there is
no such target, the ``…_failed`` event whose failure its code's ``await`` raises
(``ApplicationError`` of type ``ExternalWorkflowExecutionNotFound``, with Temporal's
messages).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import false, select
from sqlalchemy.ext.asyncio import AsyncConnection

from turnout.contracts.errors import Failure
from turnout.contracts.events import EventType
from turnout.executors.internal import commands as cmd
from turnout.executors.internal.schema import runs
from turnout.executors.internal.store.core import StoreCore
from turnout.executors.internal.store.new_runs import signal_attributes
from turnout.executors.internal.store.records import EventSpec, RunSnapshot
from turnout.executors.internal.store.sql import ACTIVE
from turnout.executors.internal.store.tx import Tx

__all__ = ["NOT_FOUND", "ExternalOperations"]

NOT_FOUND = "ExternalWorkflowExecutionNotFound"
"""The type of the ``ApplicationError`` a sender's ``await`` raises, as on Temporal."""

_SIGNAL_NOT_FOUND = "Unable to signal external workflow because it was not found"
_CANCEL_NOT_FOUND = "Unable to cancel external workflow because not found"


def _not_found(answer: dict[str, Any], message: str) -> dict[str, Any]:
    failure = Failure(kind="application", message=message, type=NOT_FOUND)
    return {
        **answer,
        "cause": "external_workflow_not_found",
        "failure": failure.model_dump(mode="json"),
    }


class ExternalOperations(StoreCore):
    """Apply the commands of external workflow handles (see the module docstring)."""

    async def _signal_external(
        self, conn: AsyncConnection, tx: Tx, run: RunSnapshot, c: cmd.SignalExternal, now: datetime
    ) -> None:
        answer = {"signal_seq": c.seq, "workflow_id": c.workflow_id, "run_id": c.run_id}
        target = await self._external_target(conn, run, c.workflow_id, c.run_id, open_only=True)
        signal = (EventType.SIGNAL_RECEIVED, signal_attributes(c.name, c.args, c.header))
        spec: EventSpec = (EventType.EXTERNAL_WORKFLOW_SIGNALED, answer)
        if target is None or not await self._deliver(conn, tx, target.run_id, [signal], now):
            spec = (
                EventType.SIGNAL_EXTERNAL_WORKFLOW_FAILED,
                _not_found(answer, _SIGNAL_NOT_FOUND),
            )
        await self._deliver(conn, tx, run.run_id, [spec], now)

    async def _cancel_external(
        self,
        conn: AsyncConnection,
        tx: Tx,
        run: RunSnapshot,
        c: cmd.RequestCancelExternal,
        now: datetime,
    ) -> None:
        answer = {"cancel_seq": c.seq, "workflow_id": c.workflow_id, "run_id": c.run_id}
        target = await self._external_target(conn, run, c.workflow_id, c.run_id, open_only=False)
        spec: EventSpec = (EventType.EXTERNAL_WORKFLOW_CANCEL_REQUESTED, answer)
        if target is None:
            spec = (
                EventType.REQUEST_CANCEL_EXTERNAL_WORKFLOW_FAILED,
                _not_found(answer, _CANCEL_NOT_FOUND),
            )
        elif target.state in ACTIVE and not target.cancel_requested:
            # Guarded: a run closed or asked meanwhile is left as it is (still a success).
            await self._deliver(
                conn,
                tx,
                target.run_id,
                [(EventType.WORKFLOW_CANCEL_REQUESTED, {})],
                now,
                values={"cancel_requested": True},
                extra_where=runs.c.cancel_requested == false(),
            )
        await self._deliver(conn, tx, run.run_id, [spec], now)

    async def _external_target(
        self,
        conn: AsyncConnection,
        run: RunSnapshot,
        workflow_id: str,
        run_id: str | None,
        *,
        open_only: bool,
    ) -> Any:
        """The run a handle addresses in ``run``'s tenant (its ``run_id``, else the latest
        run of ``workflow_id``; only an open one with ``open_only``), or None."""
        stmt = select(runs.c.run_id, runs.c.state, runs.c.cancel_requested).where(
            runs.c.tenant_id == run.tenant_id, runs.c.workflow_id == workflow_id
        )
        if run_id is not None:
            stmt = stmt.where(runs.c.run_id == run_id)
        if open_only:
            stmt = stmt.where(runs.c.state.in_(ACTIVE))
        stmt = stmt.order_by(runs.c.requested_at.desc(), runs.c.run_id.desc()).limit(1)
        return (await conn.execute(stmt)).first()
