"""Governance in the store: approvals (requested, decided, timed out), policy decisions
and artifacts. Every read and write names the tenant in its ``WHERE``."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any, NoReturn

from sqlalchemy import Row, and_, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from turnout.contracts.errors import (
    ApprovalAlreadyDecidedError,
    ApprovalNotFoundError,
    WorkflowNotFoundError,
)
from turnout.contracts.events import EventType
from turnout.contracts.governance import (
    Approval,
    ApprovalState,
    artifact_attributes,
    decision_attributes,
)
from turnout.contracts.records import Artifact, DecisionOutcome, PolicyDecision, QueueItemState
from turnout.contracts.states import RunState
from turnout.executors.internal.commands import RequestApproval
from turnout.executors.internal.schema import (
    approvals,
    artifacts,
    policy_decisions,
    queue_items,
    runs,
)
from turnout.executors.internal.store.core import StoreCore
from turnout.executors.internal.store.records import (
    ApprovalFilter,
    ClaimedItem,
    EventSpec,
    RunSnapshot,
)
from turnout.executors.internal.store.rows import decision_row, new_item_row
from turnout.executors.internal.store.sql import ACTIVE, APPROVAL_TIMER, TIMER, utcnow
from turnout.executors.internal.store.tx import Tx

__all__ = ["GovernanceOperations"]

_PENDING = ApprovalState.PENDING.value


def _approval(row: Row[Any]) -> Approval:
    return Approval(
        workflow_id=row.workflow_id,
        run_id=row.run_id,
        workflow_type=getattr(row, "workflow_type", "") or "",
        tenant_id=row.tenant_id,
        name=row.name,
        state=ApprovalState(row.state),
        details=row.details or {},
        requested_at=row.requested_at,
        timeout_at=row.timeout_at,
        decided_at=row.decided_at,
        decided_by=row.decided_by,
        reason=row.reason,
    )


def _fields(row: Row[Any]) -> dict[str, Any]:
    return {**row._mapping, "attributes": row.attributes or {}}


class GovernanceOperations(StoreCore):
    """Approvals, policy decisions and artifacts."""

    # -- approvals requested by a workflow task (inside its commit) --------------------
    async def _request_approvals(
        self,
        conn: AsyncConnection,
        run: RunSnapshot,
        requests: list[RequestApproval],
        now: datetime,
    ) -> None:
        rows, timers = [], []
        for r in requests:
            approval_id = uuid.uuid4().hex
            timeout_at = now + timedelta(seconds=r.timeout) if r.timeout is not None else None
            rows.append(
                {
                    "approval_id": approval_id,
                    "run_id": run.run_id,
                    "workflow_id": run.workflow_id,
                    "tenant_id": run.tenant_id,
                    "name": r.name,
                    "state": _PENDING,
                    "details": r.details,
                    "requested_at": now,
                    "timeout_at": timeout_at,
                }
            )
            if timeout_at is not None:
                timers.append(
                    new_item_row(
                        run,
                        TIMER,
                        run.task_queue,
                        r.name,
                        f"{APPROVAL_TIMER}{approval_id}",
                        now,
                        payload={"approval_id": approval_id, "timeout": r.timeout},
                        available_at=timeout_at,
                    )
                )
        await conn.execute(insert(approvals), rows)
        if timers:
            await conn.execute(insert(queue_items), timers)

    # -- deciding ------------------------------------------------------------------------
    async def decide_approval(
        self,
        tenant_id: str,
        workflow_id: str,
        run_id: str,
        name: str,
        outcome: DecisionOutcome,
        *,
        by: str | None,
        reason: str | None,
    ) -> PolicyDecision:
        """Decide the run's pending approval ``name``; final, and made once (in SQL).

        Raises ApprovalNotFoundError / ApprovalAlreadyDecidedError / WorkflowNotFoundError,
        changing nothing.
        """
        decision: PolicyDecision = await self._run_tx(
            self._decide_tx, tenant_id, workflow_id, run_id, name, outcome, by, reason
        )
        return decision

    async def _decide_tx(
        self,
        conn: AsyncConnection,
        tx: Tx,
        tenant_id: str,
        workflow_id: str,
        run_id: str,
        name: str,
        outcome: DecisionOutcome,
        by: str | None,
        reason: str | None,
        approval_id: str | None = None,
    ) -> PolicyDecision:
        now = utcnow()
        # Lock the run first (the same order as every other writer), then decide in SQL.
        run = (
            await conn.execute(
                select(runs.c.state, runs.c.workflow_type)
                .where(runs.c.run_id == run_id, runs.c.tenant_id == tenant_id)
                .with_for_update()
            )
        ).first()
        if run is None or run.state not in ACTIVE:
            raise WorkflowNotFoundError(workflow_id, run_id)
        where = [
            approvals.c.tenant_id == tenant_id,
            approvals.c.run_id == run_id,
            approvals.c.name == name,
            approvals.c.state == _PENDING,
        ]
        if approval_id is not None:
            where.append(approvals.c.approval_id == approval_id)
        decided = (
            await conn.execute(
                update(approvals)
                .where(*where)
                .values(state=outcome.value, decided_at=now, decided_by=by, reason=reason)
                .returning(approvals.c.approval_id, approvals.c.details)
            )
        ).first()
        if decided is None:
            await self._explain_undecidable(conn, tenant_id, workflow_id, run_id, name)
        await conn.execute(  # a timeout still queued for it will not fire
            update(queue_items)
            .where(
                queue_items.c.run_id == run_id,
                queue_items.c.kind == TIMER,
                queue_items.c.ref == f"{APPROVAL_TIMER}{decided.approval_id}",
                queue_items.c.state == QueueItemState.QUEUED.value,
            )
            .values(state=QueueItemState.CANCELED.value, updated_at=now)
        )
        decision = PolicyDecision(
            decision_id=uuid.uuid4().hex,
            run_id=run_id,
            workflow_id=workflow_id,
            tenant_id=tenant_id,
            name=name,
            outcome=outcome,
            decided_by=by,
            reason=reason,
            decided_at=now,
            attributes={"kind": "approval"},
        )
        await conn.execute(insert(policy_decisions).values(**decision_row(decision)))
        still_pending = (
            await conn.execute(
                select(func.count())
                .select_from(approvals)
                .where(approvals.c.run_id == run_id, approvals.c.state == _PENDING)
            )
        ).scalar_one()
        specs = [(EventType.APPROVAL_DECIDED, decision_attributes(decision))]
        values: dict[str, Any] = {}
        if not still_pending and run.state == RunState.WAITING_APPROVAL.value:
            specs.append(
                (
                    EventType.STATE_CHANGED,
                    {"from": RunState.WAITING_APPROVAL.value, "to": RunState.RUNNING.value},
                )
            )
            values["state"] = RunState.RUNNING.value
        if not await self._deliver(conn, tx, run_id, specs, now, values=values):
            raise WorkflowNotFoundError(workflow_id, run_id)
        return decision

    async def _explain_undecidable(
        self, conn: AsyncConnection, tenant_id: str, workflow_id: str, run_id: str, name: str
    ) -> NoReturn:
        earlier = (
            await conn.execute(
                select(approvals.c.state, approvals.c.decided_by)
                .where(
                    approvals.c.tenant_id == tenant_id,
                    approvals.c.run_id == run_id,
                    approvals.c.name == name,
                )
                .order_by(approvals.c.requested_at.desc())
                .limit(1)
            )
        ).first()
        if earlier is not None and earlier.state != _PENDING:
            raise ApprovalAlreadyDecidedError(
                workflow_id, name, outcome=earlier.state, decided_by=earlier.decided_by
            )
        pending = (
            await conn.execute(
                select(approvals.c.name)
                .where(
                    approvals.c.tenant_id == tenant_id,
                    approvals.c.run_id == run_id,
                    approvals.c.state == _PENDING,
                )
                .order_by(approvals.c.requested_at)
            )
        ).scalars()
        raise ApprovalNotFoundError(workflow_id, name, pending=list(pending))

    async def _approval_timer_fired(
        self, conn: AsyncConnection, tx: Tx, item: Row[Any], now: datetime
    ) -> None:
        """An approval's timer fired: decide it ``timed_out`` unless a person was first."""
        payload = item.payload or {}
        run = (
            await conn.execute(
                select(runs.c.tenant_id, runs.c.workflow_id).where(runs.c.run_id == item.run_id)
            )
        ).one()
        try:
            await self._decide_tx(
                conn,
                tx,
                run.tenant_id,
                run.workflow_id,
                item.run_id,
                item.name,
                DecisionOutcome.TIMED_OUT,
                None,
                f"no decision within {payload.get('timeout')} s",
                approval_id=payload.get("approval_id"),
            )
        except (ApprovalAlreadyDecidedError, ApprovalNotFoundError, WorkflowNotFoundError):
            return  # decided (or the run closed) before the timeout: nothing to do

    # -- policies and artifacts recorded by activity workers -----------------------------
    async def record_policy_decision(self, item: ClaimedItem, decision: PolicyDecision) -> bool:
        """Persist a policy decision and its ``policy_decided`` event; False when the run
        is closed (nothing is written)."""
        return await self._record(
            item,
            (EventType.POLICY_DECIDED, decision_attributes(decision)),
            insert(policy_decisions).values(**decision_row(decision)),
        )

    async def record_artifact(self, item: ClaimedItem, artifact: Artifact) -> bool:
        """Persist an artifact's metadata and its ``artifact_recorded`` event; False when
        the run is closed (nothing is written)."""
        return await self._record(
            item,
            (EventType.ARTIFACT_RECORDED, artifact_attributes(artifact)),
            insert(artifacts).values(**artifact.model_dump()),  # the fields are the columns
        )

    async def _record(self, item: ClaimedItem, event: EventSpec, row: Any) -> bool:
        """Append ``event`` to the item's open run and insert ``row``, in one transaction."""

        async def tx_fn(conn: AsyncConnection, tx: Tx) -> bool:
            seqs = await self._append(
                conn,
                item.run_id,
                [event],
                now=utcnow(),
                extra_where=runs.c.tenant_id == item.tenant_id,
            )
            if seqs is None:
                return False
            await conn.execute(row)
            return True

        return bool(await self._run_tx(tx_fn))

    # -- reads ---------------------------------------------------------------------------
    async def granted_approval(self, tenant_id: str, run_id: str, name: str) -> Approval | None:
        """The latest ``approved`` decision of approval ``name`` in the run, if any."""
        async with self.reader.connect() as conn:
            row = (
                await conn.execute(
                    select(approvals)
                    .where(
                        approvals.c.tenant_id == tenant_id,
                        approvals.c.run_id == run_id,
                        approvals.c.name == name,
                        approvals.c.state == ApprovalState.APPROVED.value,
                    )
                    .order_by(approvals.c.decided_at.desc())
                    .limit(1)
                )
            ).first()
        return _approval(row) if row is not None else None

    async def approvals_of(self, tenant_id: str, run_id: str) -> list[Approval]:
        """Every approval of a run, oldest first."""
        async with self.reader.connect() as conn:
            rows = (
                await conn.execute(
                    select(approvals, runs.c.workflow_type)
                    .join(runs, runs.c.run_id == approvals.c.run_id)
                    .where(approvals.c.tenant_id == tenant_id, approvals.c.run_id == run_id)
                    .order_by(approvals.c.requested_at, approvals.c.approval_id)
                )
            ).all()
        return [_approval(r) for r in rows]

    async def pending_approvals(self, tenant_id: str, where: ApprovalFilter) -> list[Approval]:
        """Pending approvals of open runs of a tenant that match ``where``, oldest first."""
        stmt = (
            select(approvals, runs.c.workflow_type)
            .join(
                runs,
                and_(runs.c.run_id == approvals.c.run_id, runs.c.tenant_id == tenant_id),
            )
            .where(
                approvals.c.tenant_id == tenant_id,
                approvals.c.state == _PENDING,
                runs.c.state.in_(ACTIVE),
            )
        )
        if where.workflow_type is not None:
            stmt = stmt.where(runs.c.workflow_type == where.workflow_type)
        stmt = stmt.order_by(approvals.c.requested_at, approvals.c.approval_id).limit(where.limit)
        async with self.reader.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        return [_approval(r) for r in rows]

    async def decisions_of(self, tenant_id: str, run_id: str) -> list[PolicyDecision]:
        """Every policy and approval decision of a run, oldest first."""
        async with self.reader.connect() as conn:
            rows = (
                await conn.execute(
                    select(policy_decisions)
                    .where(
                        policy_decisions.c.tenant_id == tenant_id,
                        policy_decisions.c.run_id == run_id,
                    )
                    .order_by(policy_decisions.c.decided_at, policy_decisions.c.decision_id)
                )
            ).all()
        # The table's columns are the record's fields.
        return [PolicyDecision.model_validate(_fields(r)) for r in rows]

    async def artifacts_of(self, tenant_id: str, run_id: str) -> list[Artifact]:
        """Every artifact of a run, oldest first."""
        async with self.reader.connect() as conn:
            rows = (
                await conn.execute(
                    select(artifacts)
                    .where(artifacts.c.tenant_id == tenant_id, artifacts.c.run_id == run_id)
                    .order_by(artifacts.c.created_at, artifacts.c.artifact_id)
                )
            ).all()
        return [Artifact.model_validate(_fields(r)) for r in rows]  # columns are fields
