"""Workflows that signal and cancel one another through external workflow handles (the
scenarios in ``test_external_handles.py``): a mailbox that collects messages until it is
told to close, a courier that posts to it, a recall that cancels it, a sender that
withdraws a signal, and one whose target cannot be found."""

from __future__ import annotations

import asyncio

from turnout import ApplicationError, CancelledError, workflow


@workflow.defn
class Mailbox:
    """Collects the messages posted to it until one says ``close``; a cancel ends it."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    @workflow.run
    async def run(self) -> list[str]:
        await workflow.wait_condition(lambda: "close" in self.messages)
        return self.messages

    @workflow.signal
    def post(self, message: str) -> None:
        self.messages.append(message)


@workflow.defn
class Courier:
    """Posts each message to the mailbox ``target_id`` (its run ``run_id`` when given),
    through the typed handle and by the signal's name."""

    @workflow.run
    async def run(self, target_id: str, run_id: str | None, messages: list[str]) -> str:
        handle = workflow.get_external_workflow_handle_for(Mailbox.run, target_id, run_id=run_id)
        for message in messages[:-1]:
            await handle.signal(Mailbox.post, message)
        await handle.signal("post", args=messages[-1:])
        return f"posted {len(messages)} to {handle.id}"


@workflow.defn
class Recall:
    """Asks the workflow ``target_id`` to cancel."""

    @workflow.run
    async def run(self, target_id: str) -> str:
        handle = workflow.get_external_workflow_handle(target_id)
        await handle.cancel()
        return f"cancel requested of {handle.id}"


@workflow.defn
class Hesitant:
    """Withdraws a signal to the mailbox ``target_id`` before it is sent, then closes it."""

    @workflow.run
    async def run(self, target_id: str) -> str:
        handle = workflow.get_external_workflow_handle_for(Mailbox.run, target_id)
        withdrawn = asyncio.ensure_future(handle.signal(Mailbox.post, "never"))
        await asyncio.sleep(0)  # the signal is made, not sent yet
        withdrawn.cancel()
        try:
            await withdrawn
            outcome = "sent"
        except CancelledError as exc:
            outcome = f"withdrawn: {exc.message}"
        await handle.signal(Mailbox.post, "close")
        return outcome


def _describe(error: ApplicationError) -> str:
    retryable = not error.non_retryable
    return f"{type(error).__name__} {error.type}: {error.message} (retryable: {retryable})"


@workflow.defn
class Misdirected:
    """Signals, then cancels, the workflow ``target_id``: each outcome as text, or (with
    ``catch`` false) the first failure left to fail the run."""

    @workflow.run
    async def run(self, target_id: str, catch: bool) -> list[str]:
        handle = workflow.get_external_workflow_handle(target_id)
        outcomes: list[str] = []
        try:
            await handle.signal(Mailbox.post, "hello")
            outcomes.append("signaled")
        except ApplicationError as exc:
            if not catch:
                raise
            outcomes.append(_describe(exc))
        try:
            await handle.cancel()
            outcomes.append("cancel requested")
        except ApplicationError as exc:
            outcomes.append(_describe(exc))
        return outcomes


EXTERNAL_WORKFLOWS: list[type] = [Mailbox, Courier, Recall, Hesitant, Misdirected]
