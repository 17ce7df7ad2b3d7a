"""Turns at SQLite's write lock between processes: a lock file beside the database,
taken before ``BEGIN IMMEDIATE`` and given back after the transaction."""

from __future__ import annotations

import asyncio
import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from turnout.executors.internal.store.sqlite_turns import TurnWait, WriteTurns, turns_file


@contextmanager
def _other_process_view(path: Path) -> Iterator[int]:
    """A second open file description of the lock file, as another process has."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT)
    try:
        yield fd
    finally:
        os.close(fd)


def _free(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    fcntl.flock(fd, fcntl.LOCK_UN)
    return True


def test_the_lock_file_sits_beside_the_database() -> None:
    assert turns_file(Path("/data/app.db-wake")) == Path("/data/app.db-write.lock")
    assert turns_file(None) is None


async def test_a_turn_holds_the_lock_file_until_the_block_ends(tmp_path: Path) -> None:
    path = tmp_path / "db-write.lock"
    turns = WriteTurns(path, timeout=5)
    try:
        async with turns.turn():
            with _other_process_view(path) as other:
                assert not _free(other)
        with _other_process_view(path) as other:
            assert _free(other)
    finally:
        turns.close()


async def test_a_process_waits_for_the_turn_another_holds(tmp_path: Path) -> None:
    path = tmp_path / "db-write.lock"
    turns = WriteTurns(path, timeout=5)
    entered = asyncio.Event()
    try:
        with _other_process_view(path) as other:
            fcntl.flock(other, fcntl.LOCK_EX)

            async def write() -> None:
                async with turns.turn():
                    entered.set()

            writer = asyncio.create_task(write())
            for _ in range(5):  # the writer asks, finds the turn taken, and waits
                await asyncio.sleep(0)
            assert not entered.is_set()
            fcntl.flock(other, fcntl.LOCK_UN)
            await asyncio.wait_for(writer, 5)
        assert entered.is_set()
    finally:
        turns.close()


async def test_after_the_busy_timeout_a_writer_goes_on_without_its_turn(
    tmp_path: Path,
) -> None:
    path = tmp_path / "db-write.lock"
    turns = WriteTurns(path, timeout=0.05)
    entered = False
    try:
        with _other_process_view(path) as other:
            fcntl.flock(other, fcntl.LOCK_EX)
            async with turns.turn():  # SQLite's own lock decides from here
                entered = True
            fcntl.flock(other, fcntl.LOCK_UN)
    finally:
        turns.close()
    assert entered


async def test_a_cancelled_wait_raises_and_never_enters(tmp_path: Path) -> None:
    path = tmp_path / "db-write.lock"
    turns = WriteTurns(path, timeout=5)
    try:
        with _other_process_view(path) as other:
            fcntl.flock(other, fcntl.LOCK_EX)

            async def write() -> None:
                async with turns.turn():
                    raise AssertionError("entered without the turn")

            writer = asyncio.create_task(write())
            for _ in range(5):  # the writer asks, finds the turn taken, and waits
                await asyncio.sleep(0)
            writer.cancel()
            with pytest.raises(asyncio.CancelledError):
                await writer
            fcntl.flock(other, fcntl.LOCK_UN)
    finally:
        turns.close()


@pytest.mark.parametrize("left", ["abandoned", "answered"])
async def test_a_turn_that_comes_after_its_waiter_left_is_given_back(
    tmp_path: Path, left: str
) -> None:
    path = tmp_path / "db-write.lock"
    with _other_process_view(path) as mine, _other_process_view(path) as other:
        wait = TurnWait(asyncio.get_running_loop(), lambda fd: fd == mine)
        if left == "abandoned":
            wait.abandon()  # timed out or cancelled
        else:
            wait.future.set_result(False)
        fcntl.flock(mine, fcntl.LOCK_EX)  # what the turns' thread does, late

        wait.settle(mine, held=True)

        assert _free(other)


async def test_a_turn_that_comes_in_time_is_handed_to_its_waiter(tmp_path: Path) -> None:
    path = tmp_path / "db-write.lock"
    with _other_process_view(path) as mine, _other_process_view(path) as other:
        wait = TurnWait(asyncio.get_running_loop(), lambda fd: fd == mine)
        fcntl.flock(mine, fcntl.LOCK_EX)

        wait.settle(mine, held=True)

        assert wait.future.result() is True
        assert not _free(other)


async def test_without_a_lock_file_turns_are_no_op(tmp_path: Path) -> None:
    turns = WriteTurns(None, timeout=5)
    async with turns.turn():
        pass
    unwritable = WriteTurns(tmp_path / "missing" / "db-write.lock", timeout=5)
    async with unwritable.turn():  # a folder it cannot create files in: no turns
        pass
    turns.close()
    unwritable.close()


async def test_a_turn_that_comes_after_the_store_closed_leaves_the_file_to_its_closer(
    tmp_path: Path,
) -> None:
    """The file's number may belong to another file by then: nothing is unlocked."""
    path = tmp_path / "db-write.lock"
    with _other_process_view(path) as mine, _other_process_view(path) as other:
        wait = TurnWait(asyncio.get_running_loop(), lambda fd: False)
        fcntl.flock(mine, fcntl.LOCK_EX)

        wait.settle(mine, held=True)

        assert not wait.future.done()
        assert not _free(other)


async def test_closing_with_the_turns_thread_started_closes_the_file_after_its_waits(
    tmp_path: Path,
) -> None:
    path = tmp_path / "db-write.lock"
    turns = WriteTurns(path, timeout=5)
    with _other_process_view(path) as other:
        fcntl.flock(other, fcntl.LOCK_EX)
        writer = asyncio.create_task(_enter(turns))
        for _ in range(5):  # the writer asks, finds the turn taken, and waits
            await asyncio.sleep(0)
        turns.close()
        fcntl.flock(other, fcntl.LOCK_UN)
        writer.cancel()
        with pytest.raises(asyncio.CancelledError):
            await writer
        # The thread took the late turn on the closed store's file and closed it: free.
        for _ in range(200):
            if _free(other):
                break
            await asyncio.sleep(0.01)
        assert _free(other)


async def _enter(turns: WriteTurns) -> None:
    async with turns.turn():
        await asyncio.Event().wait()
