"""Downloaders sharing one per-host cap through connection leases: a lease per
connection, taken before it opens and given back once it is closed, held at
the server. Real transfers against a loopback server that counts its open
connections; every sha256 checked."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from curlmulti_dl import Downloader, DownloadError, LocalLeases

from .conftest import DataFiles, Server
from .conftest import server_stats as stats

KiB = 1024


def files(data: DataFiles, prefix: str, count: int, size: int) -> list[str]:
    return [data.add(f"{prefix}/{prefix}-{i:04d}.bin", size + i) for i in range(count)]


def host_of(server: Server) -> str:
    return server.base.split("//")[1]


async def open_at_server(server: Server) -> int:
    """Connections open at the server now, ours only (not the /_stats one)."""
    return (await asyncio.to_thread(stats, server))["active"] - 1


async def until(condition, seconds: float = 5.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await condition():
            return True
        await asyncio.sleep(0.02)
    return False


async def batch(dl: Downloader, urls: list[str], out: Path) -> list[object]:
    async with dl.fetch_many(urls, out) as running:
        return [r async for r in running]


@pytest.mark.timeout(60)
def test_two_downloaders_keep_one_cap_at_the_server_and_give_every_lease_back(
    own_http: Server, data: DataFiles, tmp_path: Path
) -> None:
    names = files(data, "lease-two", 60, 24 * KiB)
    host = host_of(own_http)
    leases = LocalLeases(cap=3)

    async def run() -> list[object]:
        async with Downloader(connection_leases=leases) as a, \
                   Downloader(connection_leases=leases) as b:  # fmt: skip
            urls = [own_http.url(n, rate=400_000) for n in names]
            halves = batch(a, urls[::2], tmp_path), batch(b, urls[1::2], tmp_path)
            got = await asyncio.gather(*halves)
            # Both still open, nothing to do: their kept connections are cut
            # and the leases come back, without closing either Downloader
            # (asked only then: a /_stats connection counts among the open).
            assert await until(lambda: asyncio.sleep(0, leases.taken[host] == 0))
            assert await open_at_server(own_http) == 0
            return [r for part in got for r in part]

    results = asyncio.run(run())
    assert len(results) == 60 and all(r.ok for r in results)  # type: ignore[attr-defined]
    for name in names:
        data.assert_same(name, tmp_path / Path(name).name)
    assert leases.most_taken[host] == 3
    seen = stats(own_http)
    assert 2 <= seen["max_active"] <= 3, seen


@pytest.mark.timeout(60)
def test_leases_a_downloader_no_longer_needs_go_to_the_one_that_does(
    own_http: Server, data: DataFiles, tmp_path: Path
) -> None:
    # a takes the whole cap for a short batch; b's long batch starts on what
    # is left and gets a's leases once a's connections are closed.
    short = files(data, "lease-short", 4, 64 * KiB)
    long = files(data, "lease-long", 40, 48 * KiB)
    host = host_of(own_http)
    leases = LocalLeases(cap=4)

    async def run() -> tuple[list[object], int]:
        async with Downloader(connection_leases=leases) as a, \
                   Downloader(connection_leases=leases) as b:  # fmt: skip
            first = asyncio.create_task(
                batch(a, [own_http.url(n, rate=200_000) for n in short], tmp_path)
            )
            assert await until(lambda: asyncio.sleep(0, leases.taken[host] == 4))
            second = asyncio.create_task(
                batch(b, [own_http.url(n, rate=200_000) for n in long], tmp_path)
            )
            most_for_b = 0
            while not second.done():  # b began while a held every lease
                most_for_b = max(most_for_b, b.open_connections().get(host, 0))
                await asyncio.sleep(0.02)
            return [*await first, *await second], most_for_b

    results, most_for_b = asyncio.run(run())
    assert len(results) == 44 and all(r.ok for r in results)  # type: ignore[attr-defined]
    for name in short + long:
        data.assert_same(name, tmp_path / Path(name).name)
    assert most_for_b == 4  # the whole cap, a's leases included
    assert stats(own_http)["max_active"] <= 4


@pytest.mark.timeout(60)
def test_a_file_split_in_parts_takes_its_leases_as_its_ranges_start(
    own_http: Server, data: DataFiles, tmp_path: Path
) -> None:
    name = data.add("lease-split.bin", 3 * 1024 * KiB)
    leases = LocalLeases(cap=5)

    async def run() -> object:
        async with Downloader(connection_leases=leases) as dl:
            return await dl.fetch(own_http.url(name, rate=1_500_000), tmp_path, parts=8)

    result = asyncio.run(run())
    assert result.ok  # type: ignore[attr-defined]
    data.assert_same(name, tmp_path / name)
    assert leases.most_taken[host_of(own_http)] == 5
    assert leases.taken[host_of(own_http)] == 0  # given back at close
    assert stats(own_http)["max_active"] <= 5


@pytest.mark.timeout(60)
def test_a_host_refusing_below_the_cap_loses_no_file_and_every_lease_comes_back(
    own_http: Server, data: DataFiles, tmp_path: Path
) -> None:
    names = files(data, "lease-refused", 30, 32 * KiB)
    leases = LocalLeases(cap=6)

    async def run() -> list[object]:
        async with Downloader(connection_leases=leases, limit_recovery=60) as dl:
            urls = [own_http.url(n, rate=300_000, max_conns=2) for n in names]
            return await batch(dl, urls, tmp_path)

    results = asyncio.run(run())
    assert [r.error for r in results if not r.ok] == []  # type: ignore[attr-defined]
    for name in names:
        data.assert_same(name, tmp_path / Path(name).name)
    seen = stats(own_http)
    assert seen["refused"] >= 1, seen  # the server did refuse
    assert leases.taken[host_of(own_http)] == 0


class BrokenLeases:
    """A lease source that is gone (a cluster's scheduler that died)."""

    async def take(self, host: str) -> None:
        raise ConnectionError("the scheduler is gone")

    async def give_back(self, host: str, count: int) -> None:
        raise AssertionError("nothing was taken")


@pytest.mark.timeout(30)
def test_no_lease_to_be_had_fails_the_file_clearly_and_leaves_no_file(
    own_http: Server, data: DataFiles, tmp_path: Path
) -> None:
    name = data.add("lease-broken.bin", 40 * KiB)

    async def run() -> None:
        async with Downloader(connection_leases=BrokenLeases()) as dl:
            await dl.fetch(own_http.url(name), tmp_path)

    with pytest.raises(DownloadError, match="no connection lease: ConnectionError: the scheduler"):
        asyncio.run(run())
    assert list(tmp_path.iterdir()) == []

    names = files(data, "lease-broken", 5, KiB)

    async def many() -> list[object]:  # files that come later fail too, none waits forever
        async with Downloader(connection_leases=BrokenLeases()) as dl:
            return await batch(dl, [own_http.url(n) for n in names], tmp_path)

    results = asyncio.run(many())
    assert len(results) == 5
    assert all("no connection lease" in str(r.error) for r in results)  # type: ignore[attr-defined]
    assert list(tmp_path.iterdir()) == []
    assert stats(own_http)["max_active"] <= 1  # the /_stats request only


def test_local_leases_serve_in_order_and_a_cancelled_wait_takes_nothing() -> None:
    async def run() -> None:
        leases = LocalLeases(cap=1)
        await leases.take("h:1")
        order: list[str] = []

        async def wait(name: str) -> None:
            await leases.take("h:1")
            order.append(name)

        first = asyncio.create_task(wait("first"))
        cancelled = asyncio.create_task(wait("cancelled"))
        last = asyncio.create_task(wait("last"))
        await asyncio.sleep(0)
        cancelled.cancel()
        await leases.give_back("h:1", 1)
        await first
        await leases.give_back("h:1", 1)
        await last
        assert order == ["first", "last"]
        assert leases.taken["h:1"] == 1
        with pytest.raises(RuntimeError):
            await leases.give_back("h:1", 2)

    asyncio.run(run())
