"""Wake-ups between processes on one SQLite file: datagrams to the sockets marked in the
file's ``-wake`` folder (two ends in one process stand for two processes here)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from turnout.executors.internal.store.notify import Notifier
from turnout.executors.internal.store.wakeups import MAX_DATAGRAM, SocketWakeups, wake_folder


async def test_a_commit_wakes_the_waiters_of_the_other_processes(tmp_path: Path) -> None:
    folder = tmp_path / "turnout.db-wake"
    here, there = Notifier(), Notifier()
    receiver, sender = SocketWakeups(folder, there), SocketWakeups(folder, here)
    receiver.start()
    sender.start()
    try:
        with there.subscribe("q:orders") as woken, here.subscribe("q:orders") as own:
            with there.subscribe("q:other") as other:
                sender.announce(["q:orders", "r:run-1"])
                await asyncio.wait_for(woken.wait(), 5)
                assert not other.is_set()
            assert not own.is_set()  # a process is not sent its own commits
    finally:
        receiver.close()
        sender.close()
    assert list(folder.iterdir()) == []


async def test_a_marker_whose_process_is_gone_is_removed(tmp_path: Path) -> None:
    folder = tmp_path / "turnout.db-wake"
    folder.mkdir()
    stale = folder / "turnout-4194304-0123456789abcdef"
    stale.touch()
    sender = SocketWakeups(folder, Notifier())
    try:
        sender.announce(["q:orders"])
    finally:
        sender.close()
    assert not stale.exists()


async def test_more_channels_than_a_datagram_holds_wake_everyone(tmp_path: Path) -> None:
    folder = tmp_path / "turnout.db-wake"
    there = Notifier()
    receiver, sender = SocketWakeups(folder, there), SocketWakeups(folder, Notifier())
    receiver.start()
    try:
        with there.subscribe("r:unrelated") as woken:
            sender.announce([f"r:{i:08d}" for i in range(MAX_DATAGRAM // 8)])
            await asyncio.wait_for(woken.wait(), 5)
    finally:
        receiver.close()
        sender.close()


def test_only_files_on_disk_have_a_folder(tmp_path: Path) -> None:
    database = tmp_path / "shop.db"
    assert wake_folder(str(database)) == tmp_path / "shop.db-wake"
    assert wake_folder(":memory:") is None
    assert wake_folder(None) is None
    assert wake_folder("file:shared?mode=memory&cache=shared") is None


async def test_nothing_is_created_until_a_process_listens(tmp_path: Path) -> None:
    folder = tmp_path / "turnout.db-wake"
    sender = SocketWakeups(folder, Notifier())
    sender.announce(["q:orders"])
    sender.close()
    assert not folder.exists()
