"""A listing waits for its host's slot on an event, never by polling: it
starts as soon as a slot frees, and fails as soon as its lease cannot be
had. Real servers on 127.0.0.1."""

from __future__ import annotations

import time

import anyio
import pytest

from curlmulti_dl import Downloader, DownloadError
from curlmulti_dl.protocol.urls import parse_origin
from curlmulti_dl.schedule.scheduler import Scheduler

from .conftest import DataFiles, Server

NAMES = ("a.bin", "b.bin", "c.bin")


class Holder:
    """Something holding one of the host's slots (as a running transfer would)."""

    def __init__(self, host_key: str) -> None:
        self.host_key = host_key


@pytest.fixture(scope="module")
def directory(data: DataFiles) -> str:
    for number, name in enumerate(NAMES):
        data.add(f"listed/{name}", 1000 + number)
    return "listed/"


async def until(condition: object, steps: int = 20) -> int:
    """Loop turns (no time asleep) until ``condition()`` holds; -1: never."""
    for turn in range(steps):
        if condition():  # type: ignore[operator]
            return turn
        await anyio.sleep(0)
    return -1


@pytest.mark.trio
def test_a_listing_starts_as_soon_as_the_slot_it_waits_for_frees(
    ftp_server: Server, directory: str, arun
) -> None:
    url = ftp_server.url(directory)
    key = parse_origin(url, directory=True).host_key

    async def run() -> tuple[list[str], int, float]:
        async with Downloader(max_host_connections=1) as dl:
            holder = Holder(key)
            assert dl.scheduler.acquire(holder, holder)
            names: list[str] = []

            async def listing() -> None:
                names.extend(entry.name for entry in await dl.list_directory(url))

            async with anyio.create_task_group() as tasks:
                tasks.start_soon(listing)
                await anyio.sleep(0.2)  # it waits: the host's one slot is taken
                assert not names and dl.scheduler.slots_taken(key) == 1
                freed_at = time.monotonic()
                dl.scheduler.release(holder, holder)
                # The listing has the slot within a few turns of the loop: with
                # a 50 ms poll it would still be asleep.
                turns = await until(lambda: dl.scheduler.slots_taken(key) == 1)
                started = time.monotonic() - freed_at
            return sorted(names), turns, started

    names, turns, started = arun(run())
    assert names == sorted(NAMES)
    assert 0 <= turns <= 3, turns
    assert started < 0.02, started


def test_a_slot_of_another_host_wakes_a_listing_held_by_the_downloaders_cap(
    ftp_server: Server, directory: str, arun
) -> None:
    url = ftp_server.url(directory)
    key = parse_origin(url, directory=True).host_key

    async def run() -> int:
        async with Downloader(max_connections=1) as dl:
            other = Holder("elsewhere:80")  # the Downloader's one slot, another host's
            assert dl.scheduler.acquire(other, other)
            done = anyio.Event()

            async def listing() -> None:
                await dl.list_directory(url)
                done.set()

            async with anyio.create_task_group() as tasks:
                tasks.start_soon(listing)
                await anyio.sleep(0.13)  # (off any 50 ms beat of a poll)
                assert dl.scheduler.slots_taken(key) == 0
                dl.scheduler.release(other, other)
                turns = await until(lambda: dl.scheduler.slots_taken(key) == 1)
                await done.wait()
            return turns

    assert 0 <= arun(run()) <= 3


def test_a_lingering_slot_lets_a_listing_in_at_its_time(
    ftp_server: Server, directory: str, arun
) -> None:
    # An idle Downloader has no tick to free a lingering slot: the listing
    # wakes at the slot's time itself.
    url = ftp_server.url(directory)
    key = parse_origin(url, directory=True).host_key

    async def run() -> float:
        async with Downloader(max_host_connections=1) as dl:
            holder = Holder(key)
            assert dl.scheduler.acquire(holder, holder)
            dl.scheduler.release(holder, holder, linger=0.3, now=time.monotonic())
            began = time.monotonic()
            await dl.list_directory(url)
            return time.monotonic() - began

    assert 0.29 <= arun(run()) < 1.0


class LeaseThatFails:
    """A lease source whose one request fails when the test says."""

    def __init__(self) -> None:
        self.fail = anyio.Event()
        self.asked = 0

    async def take(self, host: str) -> None:
        self.asked += 1
        await self.fail.wait()
        raise ConnectionError("the lease service went away")

    async def give_back(self, host: str, count: int) -> None:
        raise AssertionError("nothing was taken")


@pytest.mark.trio
@pytest.mark.timeout(30)
def test_a_waiting_listing_fails_as_soon_as_its_lease_cannot_be_had(
    ftp_server: Server, directory: str, arun
) -> None:
    url = ftp_server.url(directory)

    async def run() -> tuple[int, str, int]:
        leases = LeaseThatFails()
        async with Downloader(connection_leases=leases) as dl:
            failed: list[BaseException] = []

            async def listing() -> None:
                try:
                    await dl.list_directory(url)
                except DownloadError as exc:
                    failed.append(exc)

            async with anyio.create_task_group() as tasks:
                tasks.start_soon(listing)
                await anyio.sleep(0.2)  # waiting for its lease
                assert not failed and leases.asked == 1
                leases.fail.set()
                turns = await until(lambda: bool(failed))
            return turns, str(failed[0]), leases.asked

    turns, message, asked = arun(run())
    assert "no connection lease: ConnectionError: the lease service went away" in message
    assert 0 <= turns <= 5, turns
    assert asked <= 2  # the failed request, and at most the one its wake-up asked


def test_the_scheduler_calls_a_waiter_once_when_a_slot_may_have_freed() -> None:
    scheduler: Scheduler[object] = Scheduler(2, 1)  # type: ignore[type-var]
    a, b, c = Holder("a:1"), Holder("a:1"), Holder("b:1")
    calls: list[str] = []
    assert scheduler.acquire(a, a)
    scheduler.when_free("a:1", lambda: calls.append("a"))
    assert scheduler.acquire(c, c)  # the Downloader's cap (2) is full now
    scheduler.when_free("a:1", lambda: calls.append("a, for the cap"))
    assert not scheduler.acquire(b, b) and calls == []
    scheduler.release(c, c)  # another host's: frees the cap a:1 waits on too
    assert calls == ["a", "a, for the cap"]
    scheduler.release(a, a)
    assert calls == ["a", "a, for the cap"]  # once each
    assert scheduler.acquire(a, a)
    scheduler.release(a, a, linger=1.0, now=10.0)
    scheduler.when_free("a:1", lambda: calls.append("due"))
    assert scheduler.next_expiry() == 11.0
    scheduler.expire(10.5)
    assert calls[-1] != "due"
    scheduler.expire(11.0)
    assert calls[-1] == "due" and scheduler.next_expiry() is None
    waiter = lambda: calls.append("never")  # noqa: E731
    scheduler.when_free("a:1", waiter)
    scheduler.stop_waiting("a:1", waiter)
    scheduler.wake("a:1")
    assert "never" not in calls
    scheduler.when_free("a:1", lambda: calls.append("woken"))
    scheduler.wake("a:1")
    assert calls[-1] == "woken"
