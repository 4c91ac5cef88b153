"""A transfer is ended once: one close, one slot given back, whatever ends
it (``job.transfers``). A slot is given back once: a transfer that fails its file from the write
callback (curl code 23: a write that failed, a reader gone) ended on libcurl
and is then retired with the file; both release its slot with a linger, and
the second must not count it as lingering twice (``Scheduler._in_use``, the
connections open on this side, would read one less for the linger)."""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import curlmulti_dl
from curlmulti_dl.engine.transfer import RangeTransfer
from curlmulti_dl.job.driver import FileDownload
from curlmulti_dl.protocol.urls import parse_origin
from curlmulti_dl.schedule.scheduler import Scheduler

from .conftest import DataFiles, Server, server_stats
from .test_scheduling import Job


@given(
    st.lists(st.tuples(st.integers(0, 5), st.sampled_from([0.0, 0.2, 0.5])), max_size=30),
    st.floats(0.0, 2.0),
)
def test_releasing_a_slot_again_never_counts_it_twice(
    releases: list[tuple[int, float]], later: float
) -> None:
    # Six connections open; any of them released any number of times, with
    # or without a linger: the open ones are exactly those never released.
    scheduler: Scheduler[Job] = Scheduler(max_connections=10, max_host_connections=6)
    job = Job("a", (1, 0.0))
    for n in range(6):
        assert scheduler.acquire(job, f"conn-{n}")
    released: set[int] = set()
    for n, linger in releases:
        scheduler.release(job, f"conn-{n}", linger=linger, now=1.0)
        released.add(n)
        assert scheduler._in_use("h") == 6 - len(released)
    scheduler.expire(1.0 + later)
    assert scheduler._in_use("h") == 6 - len(released)
    scheduler.expire(2.0)  # every linger is over
    assert scheduler.slots_taken("h") == scheduler._in_use("h") == 6 - len(released)
    assert scheduler.total.available == 10 - (6 - len(released))


def test_a_write_that_fails_the_file_gives_its_slot_back_once(
    http_server: Server, data: DataFiles, tmp_path: Path, arun
) -> None:
    # The destination is a pipe whose reader is gone: the first write fails
    # (EPIPE, a StorageError like a full disk) inside libcurl's write callback.
    name = data.add("slots/reader-gone.bin", 3_000_000)
    url = http_server.url(name)
    key = parse_origin(url).host_key

    async def run() -> tuple[int, int, int]:
        reader, writer = os.pipe()
        os.close(reader)
        lowest = 0
        try:
            async with curlmulti_dl.Downloader(max_host_connections=1) as dl:
                task = asyncio.ensure_future(dl.fetch(url, writer))
                while not task.done():  # sample the count while it runs
                    lowest = min(lowest, dl.scheduler._in_use(key))
                    await asyncio.sleep(0)
                try:
                    await task
                except curlmulti_dl.StorageError:
                    pass
                else:
                    raise AssertionError("the write to a pipe without a reader succeeded")
                # Within the linger: no connection open here, one still counted at the server.
                in_use = dl.scheduler._in_use(key)
                lowest = min(lowest, in_use)
                taken = dl.scheduler.slots_taken(key)
                # A second file of the host runs once the linger is over.
                done = await dl.fetch(http_server.url(name), tmp_path)
                data.assert_same(name, done.path)
                return lowest, in_use, taken
        finally:
            os.close(writer)

    lowest, in_use, taken = arun(run())
    assert lowest == 0 and in_use == 0, (lowest, in_use)
    assert taken <= 1


class Ledger:
    """Every transfer made, and how often each was closed and given its
    slot back (real transfers on a real server; only counted here)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.made: list[RangeTransfer] = []
        self.closed: Counter[int] = Counter()
        self.released: Counter[int] = Counter()
        made, close, release = RangeTransfer.__init__, RangeTransfer.close, Scheduler.release

        def counting_init(transfer: RangeTransfer, *args: Any, **kwargs: Any) -> None:
            made(transfer, *args, **kwargs)
            self.made.append(transfer)

        def counting_close(transfer: RangeTransfer) -> None:
            self.closed[id(transfer)] += 1
            close(transfer)

        def counting_release(
            scheduler: Scheduler[Any], waiter: Any, borrower: Any, **kw: Any
        ) -> None:
            if isinstance(borrower, RangeTransfer):
                self.released[id(borrower)] += 1
            release(scheduler, waiter, borrower, **kw)

        monkeypatch.setattr(RangeTransfer, "__init__", counting_init)
        monkeypatch.setattr(RangeTransfer, "close", counting_close)
        monkeypatch.setattr(Scheduler, "release", counting_release)

    def assert_each_ended_once(self) -> None:
        assert self.made, "no transfer was made"
        ids = [id(t) for t in self.made]
        assert [self.closed[i] for i in ids] == [1] * len(ids), "closed more or less than once"
        assert [self.released[i] for i in ids] == [1] * len(ids), "released more or less than once"


def test_a_transfer_ended_by_a_failed_write_is_ended_once(
    http_server: Server, data: DataFiles, monkeypatch: pytest.MonkeyPatch, arun
) -> None:
    name = data.add("ends/write-error.bin", 3_000_000)
    ledger = Ledger(monkeypatch)

    async def run() -> None:
        reader, writer = os.pipe()
        os.close(reader)  # the first write fails (EPIPE), inside libcurl's write callback
        try:
            async with curlmulti_dl.Downloader() as dl:
                with pytest.raises(curlmulti_dl.StorageError):
                    await dl.fetch(http_server.url(name), writer)
        finally:
            os.close(writer)

    arun(run())
    ledger.assert_each_ended_once()


def test_transfers_of_a_cancelled_download_are_ended_once(
    http_server: Server, data: DataFiles, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, arun
) -> None:
    name = data.add("ends/cancelled.bin", 4_000_000)
    ledger = Ledger(monkeypatch)

    async def run() -> None:
        async with curlmulti_dl.Downloader() as dl:
            task = asyncio.ensure_future(
                dl.fetch(http_server.url(name) + "?rate=100000", tmp_path, parts=4)
            )
            for _ in range(500):
                if len(ledger.made) >= 3:
                    break
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.3)  # the ranges have bytes
            assert not task.done()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    arun(run())
    assert len(ledger.made) >= 3
    ledger.assert_each_ended_once()


def test_ranges_cut_by_rebalancing_are_ended_once(
    http_server: Server, data: DataFiles, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, arun
) -> None:
    # One of four connections is slow: its range is split or moved off it.
    name = data.add("ends/rebalanced.bin", 6_000_000)
    ledger = Ledger(monkeypatch)
    url = http_server.url(name) + "?slow_token=cut&slow_rate=100000"
    result = arun(curlmulti_dl.fetch(url, tmp_path, parts=4, min_split_size=65536))
    data.assert_same(name, result.path)
    assert result.splits + result.reconnects > 0, result
    ledger.assert_each_ended_once()


def test_refused_connections_are_ended_once(
    http_server: Server, data: DataFiles, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, arun
) -> None:
    # Eight ranges asked, two connections served at a time: the rest are 503s.
    name = data.add("ends/refused.bin", 4_000_000)
    ledger = Ledger(monkeypatch)
    url = http_server.url(name) + "?max_conns=2&rate=2000000"
    refused = server_stats(http_server)["refused"]
    result = arun(curlmulti_dl.fetch(url, tmp_path, parts=8, min_part_size=262144))
    data.assert_same(name, result.path)
    assert server_stats(http_server)["refused"] > refused
    ledger.assert_each_ended_once()


def test_a_bug_at_a_transfers_end_fails_the_file_and_still_ends_it_once(
    http_server: Server, data: DataFiles, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, arun
) -> None:
    name = data.add("ends/bug.bin", 300_000)
    ledger = Ledger(monkeypatch)

    def broken(job: FileDownload, transfer: RangeTransfer) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(FileDownload, "transfer_ended", broken)
    with pytest.raises(curlmulti_dl.DownloadError, match=r"internal error.*a bug"):
        arun(curlmulti_dl.fetch(http_server.url(name), tmp_path, parts=1))
    ledger.assert_each_ended_once()
    assert list(tmp_path.iterdir()) == []  # nothing of the file is left
