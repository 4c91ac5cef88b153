"""Through the far-server emulator: round trips and sessions counted at the proxy."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

import curlmulti_dl

from .conftest import FILES, DataFiles, FarServer, Server, start_far

DELAY = 0.02  # one way: 40 ms round trips


@pytest.fixture
def far_ftp(ftp_server: Server) -> Iterator[FarServer]:
    far = start_far(ftp_server, DELAY, rate=8 * 1024 * 1024)
    yield far
    far.process.kill()  # our own child, by its PID
    far.process.wait()


@pytest.fixture
def far_http(http_server: Server) -> Iterator[FarServer]:
    far = start_far(http_server, DELAY, rate=8 * 1024 * 1024)
    yield far
    far.process.kill()
    far.process.wait()


def fetch(url: str, dest: Path, **options: object) -> curlmulti_dl.DownloadResult:
    return asyncio.run(curlmulti_dl.fetch(url, dest, **options))  # type: ignore[arg-type]


def test_small_ftp_file_is_one_session_through_the_far_link(
    far_ftp: FarServer, data: DataFiles, tmp_path: Path
) -> None:
    result = fetch(far_ftp.url("odd.bin"), tmp_path, parts=8)
    data.assert_same("odd.bin", result.path)
    stats = far_ftp.stats()
    assert (stats["sessions"], stats["logins"]) == (1, 1), stats  # no probe session
    assert stats["connections"] == 2  # the control connection and one data connection
    assert stats["commands"].get("CWD", 0) <= 1


def test_split_ftp_file_opens_no_more_sessions_than_ranges(
    far_ftp: FarServer, data: DataFiles, tmp_path: Path
) -> None:
    result = fetch(far_ftp.url("huge.bin"), tmp_path, parts=4, ftp_min_part_size=4 << 20)
    data.assert_same("huge.bin", result.path)
    stats = far_ftp.stats()
    assert stats["sessions"] == stats["logins"] <= result.ranges, stats
    assert stats["max_active_sessions"] <= 4
    assert stats["bytes_down"] >= FILES["huge.bin"]


def test_http_through_the_far_link(far_http: FarServer, data: DataFiles, tmp_path: Path) -> None:
    result = fetch(far_http.url("huge.bin"), tmp_path, parts=4)
    data.assert_same("huge.bin", result.path)
    stats = far_http.stats()
    assert stats["connections"] <= result.ranges  # a later range may reuse a connection
    # Paced at 8 MiB/s per connection: four connections beat one by far.
    assert result.connections == 4


def fetch_all(
    names: list[str], far: FarServer, dest: Path, data: DataFiles, **kwargs: object
) -> None:
    """Download ``names`` at once through one Downloader; check every file."""

    async def scenario() -> list[curlmulti_dl.DownloadResult]:
        async with curlmulti_dl.Downloader(**kwargs) as dl:  # type: ignore[arg-type]
            return await asyncio.gather(*(dl.fetch(far.url(n), dest) for n in names))

    for name, result in zip(names, asyncio.run(scenario()), strict=True):
        data.assert_same(name, result.path)


def test_ten_small_ftp_files_over_one_allowed_session_cost_one_login(
    far_ftp: FarServer, data: DataFiles, tmp_path: Path
) -> None:
    names = [data.add(f"small/{n}.bin", 20_000 + n) for n in range(10)]
    fetch_all(names, far_ftp, tmp_path, data, max_host_connections=1)
    stats = far_ftp.stats()
    assert (stats["sessions"], stats["logins"]) == (1, 1), stats
    assert stats["commands"]["RETR"] == 10


def test_http_keep_alive_serves_the_next_files(
    far_http: FarServer, data: DataFiles, tmp_path: Path
) -> None:
    names = [data.add(f"small/{n}.bin", 20_000 + n) for n in range(10)]
    fetch_all(names, far_http, tmp_path, data, max_host_connections=1)
    assert far_http.stats()["connections"] == 1


@pytest.mark.parametrize("kind", ["http", "ftp"])
def test_host_cap_counts_idle_connections_too(
    request: pytest.FixtureRequest, data: DataFiles, tmp_path: Path, kind: str
) -> None:
    far: FarServer = request.getfixturevalue(f"far_{kind}")
    names = ["huge.bin", "big.bin", *(data.add(f"small/{n}.bin", 20_000 + n) for n in range(6))]
    sizes = {"min_part_size": 1 << 20, "ftp_min_part_size": 1 << 20}
    fetch_all(names, far, tmp_path, data, max_host_connections=3, **sizes)
    stats = far.stats()
    # Open connections, busy or idle in libcurl's cache, never above the cap.
    most = stats["max_active_sessions"] if kind == "ftp" else stats["max_active"]
    assert most <= 3, stats


def test_idle_connections_make_room_under_the_cap(
    far_http: FarServer, data: DataFiles, tmp_path: Path
) -> None:
    # Two files leave two idle keep-alive connections; a third file that asks
    # for a fresh connection must not make it three: an idle one closes first.
    names = [data.add(f"room/{n}.bin", 30_000 + n) for n in range(3)]

    async def scenario() -> None:
        async with curlmulti_dl.Downloader(max_host_connections=2) as dl:
            first = await asyncio.gather(*(dl.fetch(far_http.url(n), tmp_path) for n in names[:2]))
            third = await dl.fetch(far_http.url(names[2]), tmp_path, reuse_connections=False)
        for name, result in zip(names, [*first, third], strict=True):
            data.assert_same(name, result.path)

    asyncio.run(scenario())
    stats = far_http.stats()
    assert stats["connections"] == 3 and stats["max_active"] <= 2, stats


def test_cached_sessions_close_without_blocking_quits(
    far_ftp: FarServer, data: DataFiles, tmp_path: Path
) -> None:
    # libcurl ends a cached FTP session with QUIT and waits for the answer,
    # blocking the loop a round trip per session: the Downloader cuts them.
    names = [data.add(f"small/{n}.bin", 20_000 + n) for n in range(8)]

    async def scenario() -> None:
        dl = curlmulti_dl.Downloader(max_host_connections=4)
        async with dl:
            results = await asyncio.gather(*(dl.fetch(far_ftp.url(n), tmp_path) for n in names))
            for name, result in zip(names, results, strict=True):
                data.assert_same(name, result.path)
            host = far_ftp.base.split("://")[1]
            kept = dl.open_connections()[host]
            assert 1 <= kept <= 4  # idle sessions, counted on their sockets
        assert dl.open_connections() == {}

    asyncio.run(scenario())
    stats = far_ftp.stats()
    assert stats["commands"].get("QUIT", 0) == 0, stats
    assert stats["logins"] <= 4


def test_split_ftp_ranges_end_without_abor(
    far_ftp: FarServer, data: DataFiles, tmp_path: Path
) -> None:
    # libcurl ends a range given with an end by ABOR and waits for the reply,
    # blocking the loop; a range that stops itself lets libcurl drop the session.
    result = fetch(far_ftp.url("huge.bin"), tmp_path, parts=4, ftp_min_part_size=4 << 20)
    data.assert_same("huge.bin", result.path)
    assert result.ranges >= 4
    stats = far_ftp.stats()
    assert stats["commands"].get("ABOR", 0) == 0, stats
    assert stats["commands"]["REST"] == result.ranges - 1  # every range but the first


def test_files_given_together_share_the_host_sessions(
    far_ftp: FarServer, data: DataFiles, tmp_path: Path
) -> None:
    # Four 8 MiB files, six sessions: the two free slots go to two files as a
    # second range each, instead of twelve more ranges queueing for logins.
    names = [data.add(f"shared/{n}.bin", 8 * 2**20 + n) for n in range(4)]

    async def scenario() -> list[curlmulti_dl.DownloadResult]:
        async with curlmulti_dl.Downloader(max_host_connections=6) as dl:
            fetches = (
                dl.fetch(far_ftp.url(n), tmp_path, parts=4, ftp_min_part_size=1 << 20)
                for n in names
            )
            return await asyncio.gather(*fetches)

    results = asyncio.run(scenario())
    for name, result in zip(names, results, strict=True):
        data.assert_same(name, result.path)
    planned = sorted(r.ranges - r.splits - r.reconnects for r in results)
    assert planned == [1, 1, 2, 2], results
    stats = far_ftp.stats()
    assert stats["max_active_sessions"] <= 6, stats
    assert stats["logins"] <= sum(r.ranges for r in results), stats
