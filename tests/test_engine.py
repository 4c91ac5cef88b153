"""Defects found in review of the engine, each pinned by a test."""

from __future__ import annotations

import asyncio
import fcntl
import os
from pathlib import Path
from typing import Any

import pytest

import curlmulti_dl
from curlmulti_dl import Downloader
from curlmulti_dl._config import DownloadOptions
from curlmulti_dl.engine.transfer import RangeTransfer
from curlmulti_dl.files.destination import resolve_destination
from curlmulti_dl.files.storage import PartFile
from curlmulti_dl.protocol.request import RangeRequest
from curlmulti_dl.ranges.lane import Lane

from .conftest import FILES, DataFiles, Server, assert_left_resumable
from .test_http import served


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_one_event_loop_per_fetch_leaks_nothing(
    http_server: Server, data: DataFiles, tmp_path: Path
) -> None:
    url = http_server.url("one.bin")
    asyncio.run(curlmulti_dl.fetch(url, tmp_path / "warm-up"))
    before = open_descriptors()
    for n in range(150):
        result = asyncio.run(curlmulti_dl.fetch(url, tmp_path / f"copy-{n}"))
        data.assert_same("one.bin", result.path)
    # The old default Downloader kept each loop's multi handle and descriptors.
    assert open_descriptors() - before < 5


def test_files_waiting_for_a_slot_hold_no_file(
    http_server: Server, data: DataFiles, tmp_path: Path
) -> None:
    url = http_server.url("odd.bin", rate=500_000)

    async def scenario() -> None:
        async with Downloader(max_host_connections=1) as dl:
            tasks = [asyncio.create_task(dl.fetch(url, tmp_path / f"f{n}")) for n in range(30)]
            while not list(tmp_path.glob("*.part")):
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.2)
            parts = list(tmp_path.glob("*.part"))
            assert len(parts) == 1, parts  # only the file that has the slot
            started = parts[0].name.removesuffix(".part")
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        assert_left_resumable(tmp_path, started, data.root / "odd.bin")

    asyncio.run(scenario())


def test_failure_while_starting_does_not_strand_waiting_files(
    http_server: Server, data: DataFiles, tmp_path: Path
) -> None:
    # B fails when it gets its slot (its NAME.part turned into a symlink while it
    # waited); C, queued behind it, must still run.
    url = http_server.url("odd.bin", rate=4_000_000)

    async def scenario() -> None:
        async with Downloader(max_host_connections=1) as dl:
            a = asyncio.create_task(dl.fetch(url, tmp_path / "a"))
            b = asyncio.create_task(dl.fetch(url, tmp_path / "b"))
            c = asyncio.create_task(dl.fetch(url, tmp_path / "c"))
            await asyncio.sleep(0)
            (tmp_path / "b.part").symlink_to(tmp_path / "elsewhere")
            results = await asyncio.wait_for(
                asyncio.gather(a, b, c, return_exceptions=True), timeout=20
            )
        assert isinstance(results[1], curlmulti_dl.StorageError), results
        data.assert_same("odd.bin", results[0].path)  # type: ignore[union-attr]
        data.assert_same("odd.bin", results[2].path)  # type: ignore[union-attr]

    asyncio.run(scenario())


def test_replaced_connection_that_went_silent_does_not_fail_the_file(
    http_server: Server, data: DataFiles, tmp_path: Path
) -> None:
    # The first connection crawls, then goes silent for 20 s before the rate
    # check (after 1 s) sees it. It is replaced;
    # left to wait for its next chunk, it would hit the 3 s stall timeout (curl
    # 28) and fail the whole download although its bytes were queued again.
    token = tmp_path.name
    url = http_server.url(
        "huge.bin",
        rate=4_000_000,
        slow_rate=250_000,
        slow_token=token,
        stall_at=100_000,
        stall_seconds=20,
        t=token,
    )
    result = asyncio.run(curlmulti_dl.fetch(url, tmp_path, parts=4, stall_timeout=3))
    data.assert_same("huge.bin", result.path)
    assert result.reconnects >= 1
    assert served(http_server, token)[0]["sent"] == 100_000  # silent from 0.4 s on


def test_closing_the_downloader_fails_pending_fetches_with_a_download_error(
    http_server: Server, tmp_path: Path
) -> None:
    url = http_server.url("huge.bin", rate=1_000_000)

    async def scenario() -> None:
        dl = Downloader()
        async with dl:
            task = asyncio.create_task(dl.fetch(url, tmp_path, parts=2))
            while not list(tmp_path.glob("*.part")):
                await asyncio.sleep(0.01)
        with pytest.raises(curlmulti_dl.DownloaderClosedError):
            await task  # not CancelledError: nobody cancelled this task
        assert not task.cancelled()
        assert_left_resumable(tmp_path, "huge.bin")

    asyncio.run(scenario())


def test_progress_callback_error_is_a_download_error(http_server: Server, tmp_path: Path) -> None:
    def broken(snapshot: curlmulti_dl.ProgressSnapshot) -> None:
        raise ZeroDivisionError("display bug")

    url = http_server.url("big.bin", rate=4_000_000)
    with pytest.raises(curlmulti_dl.CallbackError) as info:
        asyncio.run(curlmulti_dl.fetch(url, tmp_path, parts=2, progress=broken))
    assert isinstance(info.value.__cause__, ZeroDivisionError)
    assert_left_resumable(tmp_path, "big.bin")


class FlakyStorage:
    """Storage whose first write fails (disk full for a moment)."""

    def __init__(self) -> None:
        self.calls = 0
        self.written: list[tuple[int, bytes]] = []

    def write_at(self, data: memoryview, offset: int) -> None:
        self.calls += 1
        if self.calls == 1:
            raise curlmulti_dl.DiskFullError("no space left")
        self.written.append((offset, bytes(data)))


def test_failed_flush_keeps_the_buffer_and_the_flushed_mark() -> None:
    options = DownloadOptions(write_buffer_size=16 * 1024)
    storage = FlakyStorage()
    lane = Lane(1, RangeRequest("http://127.0.0.1:9/x", 1000, 1000 + 40_000, is_ftp=False))
    transfer = RangeTransfer(lane, storage, options)
    lane.head_checked = True  # the head is not what this test is about
    chunk = memoryview(b"a" * 10_000)
    assert transfer._on_write(chunk) is None  # buffered
    assert transfer._on_write(chunk) == 0  # the flush fails: abort
    assert isinstance(lane.error, curlmulti_dl.DiskFullError)
    assert (lane.pos, lane.flushed, transfer.buffered) == (11_000, 1000, 10_000)
    transfer.flush()  # the bytes were kept, and now reach the file
    assert storage.written == [(1000, b"a" * 10_000)] and lane.flushed == 11_000
    transfer.close()


def test_part_renamed_between_open_and_lock_is_not_taken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_flock = fcntl.flock
    moved = tmp_path / "moved-away"
    calls: list[int] = []

    def racing_flock(fd: int, operation: int) -> Any:
        calls.append(fd)
        if len(calls) == 1:
            # Another process renames the .part we just opened before we lock it.
            os.rename(tmp_path / "out.bin.part", moved)
            moved.write_bytes(b"someone else's")
        return real_flock(fd, operation)

    monkeypatch.setattr("curlmulti_dl.files.storage.fcntl.flock", racing_flock)
    part = PartFile(resolve_destination("http://h/x", tmp_path / "out.bin"), "http://h/x")
    try:
        assert len(calls) == 2  # the first descriptor was given up
        assert moved.read_bytes() == b"someone else's"  # never truncated
        assert os.fstat(part.fd).st_ino == os.stat(tmp_path / "out.bin.part").st_ino
    finally:
        part.discard()
    assert not (tmp_path / "out.bin.part").exists() and moved.exists()


def test_fsync_syncs_the_directory_after_the_rename(
    http_server: Server, data: DataFiles, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[tuple[str, bool]] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        target = os.readlink(f"/proc/self/fd/{fd}")
        synced.append((target, (tmp_path / "big.bin").exists()))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    result = asyncio.run(curlmulti_dl.fetch(http_server.url("big.bin"), tmp_path, fsync=True))
    data.assert_same("big.bin", result.path)
    assert synced[0] == (str(tmp_path / "big.bin.part"), False)  # the data, before the rename
    assert synced[-1] == (str(tmp_path), True)  # the directory entry, after it
    assert FILES["big.bin"] == result.size


class Calls:
    """The system calls of one kind a test cares about, counted (and made)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
        self.made: list[tuple[str, str]] = []
        for name in names:
            real = getattr(os, name)

            def counted(*args: Any, _real: Any = real, _name: str = name, **kw: Any) -> Any:
                self.made.append((_name, str(args[0])))
                return _real(*args, **kw)

            monkeypatch.setattr(f"curlmulti_dl.files.storage.os.{name}", counted)


def test_a_new_part_reads_removes_and_empties_no_journal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A NAME.part made by this run with no journal beside it: nothing to read,
    # remove or empty (a small file costs none of those system calls).
    calls = Calls(monkeypatch, "unlink", "ftruncate")
    part = PartFile(resolve_destination("http://h/x", tmp_path / "new.bin"), "http://h/x",
                    keep_existing=True)  # fmt: skip
    assert part.read_journal() is None
    part.start_over()
    part.write_at(memoryview(b"abc"), 0)
    part.commit(3, fsync=False)
    assert calls.made == []
    assert (tmp_path / "new.bin").read_bytes() == b"abc"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.bin"]


def test_a_part_with_bytes_is_emptied_and_its_journal_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    destination = resolve_destination("http://h/x", tmp_path / "old.bin")
    part = PartFile(destination, "http://h/x", keep_existing=True)
    part.write_at(memoryview(b"old bytes"), 0)
    part.sync_then_journal(part.fd, b"not a journal")
    part.keep()  # left for a later run
    calls = Calls(monkeypatch, "unlink", "ftruncate")
    again = PartFile(destination, "http://h/x", keep_existing=True)
    assert again.read_journal() == b"not a journal"
    again.start_over()  # (what a journal that does not decode leads to)
    assert [name for name, _ in calls.made] == ["ftruncate", "unlink", "unlink"]
    assert os.fstat(again.fd).st_size == 0
    assert not (tmp_path / "old.bin.part.journal").exists()
    again.discard()
