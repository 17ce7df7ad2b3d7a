"""Order fulfilment: a flaky payment gateway, a human review, a refund when it says no.

``PlaceOrder`` runs one order through four steps:

1. ``charge_payment`` captures the total. The simulated gateway answers "unavailable"
   on the first two attempts of every charge, so the retry policy retries it with
   backoff and the third attempt succeeds. A declined card is a different kind of
   error: ``CardDeclined`` is listed as non-retryable and fails the order at once.
2. A person reviews the order. Until turnout has a dedicated approval API, this is
   a signal (``decide``) and ``workflow.wait_condition`` with a timeout: the
   workflow waits, durably, for a decision or for the deadline.
3. Rejected, or no decision in time: the charge is compensated by
   ``refund_payment`` and the order ends as ``rejected`` or ``expired``.
4. Approved: a durable timer holds the parcel until the courier's next pickup,
   then ``ship_order`` books it and the order ends as ``shipped``.

Nothing here talks to a network: the gateway and the courier are simulated, and
their failures depend only on ``activity.info().attempt``, so every run is
repeatable.

Run one order end to end, worker included, on whatever the settings select::

    python -m examples.orders            # approved: shipped
    python -m examples.orders --reject   # rejected: refunded

Or run the worker on its own and drive it with the ``turnout`` command
(examples/README.md shows the full session)::

    turnout worker examples.orders --task-queue orders
"""

from __future__ import annotations

import asyncio
import hashlib
import sys
import uuid
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field

import turnout
from turnout import ApplicationError, RetryPolicy, activity, workflow
from turnout.config import ExecutorKind, load_settings

TASK_QUEUE = "orders"

GATEWAY_OUTAGE_ATTEMPTS = 2
"""The simulated gateway fails this many attempts of every charge before it answers."""

DECLINED_CARD = "tok_declined"
"""A card token the simulated issuer always declines."""

PAYMENT_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=10),
    maximum_attempts=6,
    non_retryable_error_types=["CardDeclined"],
)
"""Retry an unavailable gateway with backoff; never retry a declined card."""

REFUND_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=0)
"""A refund must eventually happen: retry it until it does."""


# --------------------------------------------------------------------------- data


class LineItem(BaseModel):
    sku: str
    quantity: int = Field(gt=0)
    unit_price_cents: int = Field(ge=0)


class OrderRequest(BaseModel):
    """What the shop front sends when a customer checks out."""

    order_id: str
    customer: str
    items: list[LineItem] = Field(min_length=1)
    card_token: str = "tok_visa"
    review_timeout_seconds: float = Field(default=24 * 3600, gt=0)
    """How long a reviewer has to decide before the order expires and is refunded."""
    pickup_delay_seconds: float = Field(default=3.0, ge=0)
    """How long the parcel waits for the courier's next pickup once approved."""

    @property
    def total_cents(self) -> int:
        return sum(item.quantity * item.unit_price_cents for item in self.items)


class Review(BaseModel):
    """A reviewer's decision, sent to the workflow as the ``decide`` signal."""

    approved: bool
    reviewer: str
    note: str = ""


class Payment(BaseModel):
    payment_id: str
    order_id: str
    amount_cents: int
    attempts: int
    """Gateway attempts the charge took (at-least-once: the gateway is idempotent by order)."""


class OrderOutcome(BaseModel):
    order_id: str
    status: Literal["shipped", "rejected", "expired"]
    charged_cents: int
    refunded_cents: int = 0
    payment_id: str
    payment_attempts: int
    refund_id: str | None = None
    tracking_number: str | None = None
    reviewer: str | None = None


# --------------------------------------------------------------------------- activities


@activity.defn
async def charge_payment(order: OrderRequest) -> Payment:
    """Capture the order total through the (simulated) payment gateway.

    The gateway call is keyed by the order id, so a repeated attempt after a crash
    cannot charge the customer twice.
    """
    attempt = activity.info().attempt
    if order.card_token == DECLINED_CARD:
        raise ApplicationError(f"card declined for order {order.order_id}", type="CardDeclined")
    if attempt <= GATEWAY_OUTAGE_ATTEMPTS:
        raise ApplicationError(
            f"payment gateway unavailable (attempt {attempt})", type="GatewayUnavailable"
        )
    activity.logger.info("charged %d cents for %s", order.total_cents, order.order_id)
    return Payment(
        payment_id=f"pay_{order.order_id}",
        order_id=order.order_id,
        amount_cents=order.total_cents,
        attempts=attempt,
    )


@activity.defn
async def refund_payment(payment: Payment) -> str:
    """Return the captured amount (the compensation of ``charge_payment``)."""
    activity.logger.info("refunded %d cents of %s", payment.amount_cents, payment.payment_id)
    return f"re_{payment.payment_id}"


@activity.defn
def ship_order(order: OrderRequest, payment: Payment) -> str:
    """Book the courier and return the tracking number (a sync activity: thread pool)."""
    digest = hashlib.sha256(f"{order.order_id}:{payment.payment_id}".encode()).hexdigest()
    return f"TRK-{digest[:10].upper()}"


# --------------------------------------------------------------------------- workflow


@workflow.defn
class PlaceOrder:
    def __init__(self) -> None:
        self._stage = "received"
        self._decision: Review | None = None

    @workflow.run
    async def run(self, order: OrderRequest) -> OrderOutcome:
        self._stage = "charging"
        payment: Payment = await workflow.execute_activity(
            charge_payment,
            order,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=PAYMENT_RETRY,
        )

        self._stage = "awaiting_review"
        try:
            await workflow.wait_condition(
                lambda: self._decision is not None,
                timeout=timedelta(seconds=order.review_timeout_seconds),
            )
        except TimeoutError:
            workflow.logger.info("no review of %s in time", order.order_id)

        decision = self._decision
        outcome = OrderOutcome(
            order_id=order.order_id,
            status="expired",
            charged_cents=payment.amount_cents,
            payment_id=payment.payment_id,
            payment_attempts=payment.attempts,
            reviewer=decision.reviewer if decision else None,
        )
        if decision is None or not decision.approved:
            self._stage = "refunding"
            outcome.refund_id = await workflow.execute_activity(
                refund_payment,
                payment,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=REFUND_RETRY,
            )
            outcome.refunded_cents = payment.amount_cents
            outcome.status = "rejected" if decision else "expired"
            self._stage = outcome.status
            return outcome

        self._stage = "awaiting_pickup"
        await workflow.sleep(timedelta(seconds=order.pickup_delay_seconds))
        self._stage = "shipping"
        outcome.tracking_number = await workflow.execute_activity(
            ship_order, args=[order, payment], start_to_close_timeout=timedelta(seconds=30)
        )
        outcome.status = "shipped"
        self._stage = "shipped"
        return outcome

    @workflow.signal
    def decide(self, review: Review) -> None:
        """The reviewer's decision; the first one counts, later ones are ignored."""
        if self._decision is None:
            self._decision = review

    @workflow.query
    def status(self) -> str:
        """Where the order is: charging, awaiting_review, refunding, shipping, shipped, ..."""
        return self._stage


WORKFLOWS: list[type] = [PlaceOrder]
"""What a worker for this module runs (``turnout worker`` finds the same by scanning it)."""
ACTIVITIES: list[Callable[..., Any]] = [charge_payment, refund_payment, ship_order]


# --------------------------------------------------------------------------- running it


def sample_order(order_id: str) -> OrderRequest:
    return OrderRequest(
        order_id=order_id,
        customer="ada@example.com",
        items=[
            LineItem(sku="KEYBOARD-TKL", quantity=1, unit_price_cents=12900),
            LineItem(sku="USB-C-CABLE", quantity=2, unit_price_cents=1450),
        ],
        pickup_delay_seconds=1.0,
    )


async def main(approve: bool = True) -> OrderOutcome:
    """Run a worker in this process and one order through it, end to end."""
    settings = load_settings()
    where = (
        settings.temporal_address
        if settings.executor is ExecutorKind.TEMPORAL
        else settings.database_url
    )
    client = await turnout.connect(settings=settings)
    try:
        async with turnout.Worker(
            client, task_queue=TASK_QUEUE, workflows=WORKFLOWS, activities=ACTIVITIES
        ):
            order = sample_order(f"A-{uuid.uuid4().hex[:8].upper()}")
            handle = await client.start_workflow(
                PlaceOrder.run, order, id=f"order-{order.order_id}", task_queue=TASK_QUEUE
            )
            print(f"executor : {client.executor} ({where})")
            print(f"order    : {handle.id}, {order.total_cents} cents")

            # A reviewer opens the order once it is waiting for them.
            async with asyncio.timeout(60):
                while True:
                    if await handle.query(PlaceOrder.status) == "awaiting_review":
                        break
                    await asyncio.sleep(0.1)
            review = Review(approved=approve, reviewer="dana@shop.example",
                            note="looks fine" if approve else "address on a blocklist")  # fmt: skip
            await handle.signal(PlaceOrder.decide, review)
            print(f"review   : {'approved' if approve else 'rejected'} by {review.reviewer}")

            outcome: OrderOutcome = await handle.result()
            run = await handle.describe()
            print(f"outcome  : {outcome.status}")
            print(f"payment  : {outcome.payment_id} after {outcome.payment_attempts} attempts")
            if outcome.refund_id:
                print(f"refund   : {outcome.refund_id}, {outcome.refunded_cents} cents")
            if outcome.tracking_number:
                print(f"tracking : {outcome.tracking_number}")
            print(f"state    : {run.state.value}")
            print("timeline :")
            for event in await handle.events():
                keys = ("activity_type", "attempt", "name", "duration", "from", "to")
                attrs = {k: v for k, v in event.attributes.items() if k in keys}
                print(f"  {event.seq:>3}  {event.type.value:<26} {attrs or ''}")
            print(f"see it again: turnout events {handle.id}")
            return outcome
    finally:
        await client.close()


def _cli(argv: Sequence[str]) -> None:
    if set(argv) - {"--reject"}:
        sys.exit("usage: python -m examples.orders [--reject]")
    asyncio.run(main(approve="--reject" not in argv))


if __name__ == "__main__":
    _cli(sys.argv[1:])
