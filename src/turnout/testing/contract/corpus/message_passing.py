"""The behaviours of samples-python's ``message_passing/`` samples: queries, signals and
updates together (sync and async handlers, a validator, a lock), concurrent updates kept
safe by a lock, update-with-start, and waiting for handlers before the run closes."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum

from turnout import activity, workflow
from turnout.client import WithStartWorkflowOperation
from turnout.common import WorkflowIDConflictPolicy
from turnout.exceptions import ApplicationError, CancelledError
from turnout.testing.contract.corpus.support import (
    Driver,
    expect_failure,
    fresh_id,
    start,
    update_failure,
)
from turnout.testing.harness import ExecutorHarness

SECONDS_10 = timedelta(seconds=10)


class Tongue(StrEnum):
    """Languages the translator may speak."""

    ENGLISH = "en"
    FRENCH = "fr"
    GERMAN = "de"
    KLINGON = "tlh"


@activity.defn
async def fetch_phrase(tongue: Tongue) -> str | None:
    """A remote phrasebook: knows German, not Klingon."""
    await asyncio.sleep(0.02)
    return {Tongue.GERMAN: "Guten Tag"}.get(tongue)


@workflow.defn
class Translator:
    """A query (with an argument), a signal, a sync update with a validator and an async
    update that runs an activity under a lock."""

    def __init__(self) -> None:
        self.phrases = {Tongue.ENGLISH: "Good day", Tongue.FRENCH: "Bonjour"}
        self.tongue = Tongue.ENGLISH
        self.released_by: str | None = None
        self.lock = asyncio.Lock()

    @workflow.run
    async def run(self) -> str:
        await workflow.wait_condition(
            lambda: self.released_by is not None and workflow.all_handlers_finished()
        )
        return f"{self.phrases[self.tongue]} (released by {self.released_by})"

    @workflow.query
    def tongues(self, every_one: bool) -> list[Tongue]:
        """The languages it speaks now, or every language there is."""
        return sorted(Tongue) if every_one else sorted(self.phrases)

    @workflow.signal
    def release(self, by: str) -> None:
        """Lets the run return."""
        self.released_by = by

    @workflow.update
    def switch(self, tongue: Tongue) -> Tongue:
        """Switches to a language it knows; returns the previous one."""
        previous, self.tongue = self.tongue, tongue
        return previous

    @switch.validator
    def check_switch(self, tongue: Tongue) -> None:
        """Refuses a language it does not know."""
        if tongue not in self.phrases:
            raise ValueError(f"{tongue.name} is not spoken here")

    @workflow.update
    async def learn_and_switch(self, tongue: Tongue) -> Tongue:
        """Learns a language from the phrasebook first when it must."""
        async with self.lock:
            if tongue not in self.phrases:
                phrase = await workflow.execute_activity(
                    fetch_phrase, tongue, start_to_close_timeout=SECONDS_10
                )
                if phrase is None:
                    raise ApplicationError(f"no phrasebook knows {tongue.name}")
                self.phrases[tongue] = phrase
        previous, self.tongue = self.tongue, tongue
        return previous


@dataclass
class GarageState:
    """Which fleet holds each bay (None: free)."""

    bays: dict[str, str | None] = field(default_factory=dict)
    open: bool = False
    closed: bool = False


@activity.defn
async def survey_bays(count: int) -> list[str]:
    """Lists the bays of a garage."""
    return [f"bay-{n}" for n in range(count)]


@activity.defn
async def paint_bays(bays: list[str]) -> int:
    """Marks bays as taken (takes a moment, so handlers interleave without the lock)."""
    await asyncio.sleep(0.05)
    return len(bays)


@workflow.defn
class ParkingGarage:
    """Updates that wait for the garage to open and take a lock around their activity,
    so concurrent requests never hand out the same bay."""

    def __init__(self) -> None:
        self.state = GarageState()
        self.lock = asyncio.Lock()

    @workflow.run
    async def run(self, size: int) -> dict[str, int]:
        bays = await workflow.execute_activity(survey_bays, size, start_to_close_timeout=SECONDS_10)
        self.state.bays = dict.fromkeys(bays)
        self.state.open = True
        await workflow.wait_condition(lambda: self.state.closed)
        await workflow.wait_condition(workflow.all_handlers_finished)
        taken = sum(fleet is not None for fleet in self.state.bays.values())
        return {"taken": taken, "free": len(bays) - taken}

    @workflow.update
    async def reserve(self, fleet: str, count: int) -> list[str]:
        """Gives ``count`` bays to ``fleet`` (the same ones when asked again)."""
        await workflow.wait_condition(lambda: self.state.open)
        if self.state.closed:
            raise ApplicationError("the garage is closed")
        async with self.lock:
            held = [bay for bay, who in self.state.bays.items() if who == fleet]
            if held:
                return held
            free = [bay for bay, who in self.state.bays.items() if who is None]
            if len(free) < count:
                raise ApplicationError(f"{fleet} wants {count} bays, {len(free)} are free")
            await workflow.execute_activity(
                paint_bays, free[:count], start_to_close_timeout=SECONDS_10
            )
            for bay in free[:count]:
                self.state.bays[bay] = fleet
            return free[:count]

    @workflow.signal
    async def close(self) -> None:
        """Closes the garage once it has opened."""
        await workflow.wait_condition(lambda: self.state.open)
        self.state.closed = True


@activity.defn
async def price_of(item: str) -> int | None:
    """Prices an item; None when it is out of stock."""
    return None if item.startswith("rare") else 10 * len(item)


@dataclass
class Receipt:
    """What a checked-out basket held."""

    items: list[str]
    total: int


@workflow.defn
class Basket:
    """Made by its first update (update-with-start); a signal checks it out."""

    def __init__(self) -> None:
        self.items: list[tuple[str, int]] = []
        self.checked_out = False

    @workflow.run
    async def run(self) -> Receipt:
        await workflow.wait_condition(lambda: self.checked_out and workflow.all_handlers_finished())
        return Receipt([item for item, _ in self.items], sum(price for _, price in self.items))

    @workflow.update
    async def put(self, item: str) -> int:
        """Adds a priced item; returns the running total."""
        price = await workflow.execute_activity(price_of, item, start_to_close_timeout=SECONDS_10)
        if price is None:
            raise ApplicationError(f"{item} is out of stock", type="OutOfStock")
        self.items.append((item, price))
        return sum(p for _, p in self.items)

    @put.validator
    def check_put(self, item: str) -> None:
        """Nothing goes in once checked out."""
        if self.checked_out:
            raise ValueError("already checked out")

    @workflow.signal
    def check_out(self) -> None:
        """Lets the run return its receipt."""
        self.checked_out = True


@activity.defn
async def lift_crate(crate: str) -> str:
    """The update handler's work."""
    await asyncio.sleep(0.1)
    return f"{crate} unloaded"


@workflow.defn
class Harbor:
    """Returns, fails or is cancelled while an update runs, and in each case waits for
    the handler to finish first, so the update's caller gets its result."""

    def __init__(self) -> None:
        self.unloading = False

    @workflow.run
    async def run(self, ending: str) -> str:
        try:
            await workflow.wait_condition(lambda: self.unloading)
            if ending == "fail":
                raise ApplicationError("the harbor is flooded")
            if ending == "cancel":
                await asyncio.Future()
            await workflow.wait_condition(workflow.all_handlers_finished)
            return "harbor closed"
        except (ApplicationError, asyncio.CancelledError):
            await workflow.wait_condition(workflow.all_handlers_finished)
            raise

    @workflow.update
    async def unload(self, crate: str) -> str:
        """Unloads a crate through an activity."""
        self.unloading = True
        return await workflow.execute_activity(lift_crate, crate, start_to_close_timeout=SECONDS_10)


WORKFLOWS = [Translator, ParkingGarage, Basket, Harbor]
ACTIVITIES = [fetch_phrase, survey_bays, paint_bays, price_of, lift_crate]


async def introduction(env: ExecutorHarness) -> None:
    handle = await start(env, Translator.run)
    assert await handle.query(Translator.tongues, False) == [Tongue.ENGLISH, Tongue.FRENCH]
    assert len(await handle.query(Translator.tongues, True)) == len(Tongue)
    assert await handle.execute_update(Translator.switch, Tongue.FRENCH) == Tongue.ENGLISH
    refused = await update_failure(handle.execute_update(Translator.switch, Tongue.GERMAN))
    assert "GERMAN is not spoken here" in str(refused)
    assert await handle.execute_update(Translator.learn_and_switch, Tongue.GERMAN) == "fr"
    failed = await update_failure(
        handle.execute_update(Translator.learn_and_switch, Tongue.KLINGON)
    )
    assert isinstance(failed, ApplicationError)
    assert failed.message == "no phrasebook knows KLINGON"
    await handle.signal(Translator.release, "Noor")
    assert await handle.result() == "Guten Tag (released by Noor)"


async def safe_message_handlers(env: ExecutorHarness) -> None:
    handle = await start(env, ParkingGarage.run, 6)
    fleets = ["taxis", "vans", "buses"]
    granted = await asyncio.gather(
        *(handle.execute_update(ParkingGarage.reserve, args=[f, 2]) for f in fleets)
    )
    assert sorted(bay for bays in granted for bay in bays) == [f"bay-{n}" for n in range(6)]
    again = await handle.execute_update(ParkingGarage.reserve, args=["vans", 2])
    assert again == granted[1]
    full = await update_failure(handle.execute_update(ParkingGarage.reserve, args=["trams", 1]))
    assert isinstance(full, ApplicationError)
    assert full.message == "trams wants 1 bays, 0 are free"
    await handle.signal(ParkingGarage.close)
    assert await handle.result() == {"taken": 6, "free": 0}


async def update_with_start(env: ExecutorHarness) -> None:
    basket_id = fresh_id("basket")

    def operation() -> WithStartWorkflowOperation:
        return WithStartWorkflowOperation(
            Basket.run,
            id=basket_id,
            task_queue=env.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )

    first = operation()
    total = await env.client.execute_update_with_start_workflow(
        Basket.put, "pear", start_workflow_operation=first
    )
    assert total == 40
    second = operation()
    total = await env.client.execute_update_with_start_workflow(
        Basket.put, "melon", start_workflow_operation=second
    )
    assert total == 90
    handle = await first.workflow_handle()
    assert (await second.workflow_handle()).result_run_id == handle.result_run_id
    failed = await update_failure(handle.execute_update(Basket.put, "rare truffle"))
    assert isinstance(failed, ApplicationError)
    assert failed.type == "OutOfStock"
    await handle.signal(Basket.check_out)
    assert await handle.result() == Receipt(["pear", "melon"], 90)


async def waiting_for_handlers(env: ExecutorHarness) -> None:
    async def one(ending: str) -> None:
        from turnout.client import WorkflowUpdateStage

        handle = await start(env, Harbor.run, ending)
        update = await handle.start_update(
            Harbor.unload, f"crate-{ending}", wait_for_stage=WorkflowUpdateStage.ACCEPTED
        )
        if ending == "cancel":
            await handle.cancel()
        if ending == "return":
            assert await handle.result() == "harbor closed"
        else:
            cause = await expect_failure(handle)
            wanted = ApplicationError if ending == "fail" else CancelledError
            assert isinstance(cause, wanted), cause
        assert await update.result() == f"crate-{ending} unloaded"

    await asyncio.gather(one("return"), one("fail"), one("cancel"))


SCENARIOS: dict[str, Driver] = {
    "message_passing/introduction": introduction,
    "message_passing/safe_message_handlers": safe_message_handlers,
    "message_passing/update_with_start": update_with_start,
    "message_passing/waiting_for_handlers": waiting_for_handlers,
}
"""The scenarios of this group, by sample."""
