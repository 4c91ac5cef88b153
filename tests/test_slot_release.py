"""A slot is given back once: a transfer that fails its file from the write
callback (curl code 23: a write that failed, a reader gone) ended on libcurl
and is then retired with the file; both release its slot with a linger, and
the second must not count it as lingering twice (``Scheduler._in_use``, the
connections open on this side, would read one less for the linger)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

import curlmulti_dl
from curlmulti_dl.protocol.urls import parse_origin
from curlmulti_dl.schedule.scheduler import Scheduler

from .conftest import DataFiles, Server
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
