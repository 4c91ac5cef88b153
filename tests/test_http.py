"""Real HTTP transfers against tests/servers/httpd.py; every file checked by sha256."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

import curlmulti_dl
from curlmulti_dl import Downloader

from .conftest import FILES, DataFiles, Server, assert_left_resumable

NO_RETRY = curlmulti_dl.RetryPolicy(attempts=0)
SMALL_PARTS = {"min_part_size": 1, "min_split_size": 1}


def stats(server: Server) -> dict[str, Any]:
    with urllib.request.urlopen(f"{server.base}/_stats") as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


@pytest.mark.core
@pytest.mark.trio
@pytest.mark.parametrize("parts", [1, 4, 8, 16])
@pytest.mark.parametrize("name", sorted(FILES))
def test_parts_and_sizes(
    http_server: Server, data: DataFiles, tmp_path: Path, arun, parts: int, name: str
) -> None:
    result = arun(curlmulti_dl.fetch(http_server.url(name), tmp_path, parts=parts, **SMALL_PARTS))
    assert result.path == tmp_path / name
    assert result.size == FILES[name]
    data.assert_same(name, result.path)
    assert not (tmp_path / f"{name}.part").exists()
    assert 1 <= result.connections <= max(1, min(parts, FILES[name]))
    # Planned ranges (before rebalancing): one per part, one byte at least each.
    assert result.ranges - result.splits == max(1, min(parts, FILES[name]))


def test_small_file_finishes_in_first_request(
    http_server: Server, data: DataFiles, tmp_path: Path, arun
) -> None:
    before = stats(http_server)["requests"]
    result = arun(curlmulti_dl.fetch(http_server.url("odd.bin"), tmp_path, parts=8))
    data.assert_same("odd.bin", result.path)
    assert (result.connections, result.ranges) == (1, 1)
    assert stats(http_server)["requests"] - before == 1


@pytest.mark.parametrize("name", ["big.bin", "empty.bin", "one.bin"])
def test_server_ignoring_ranges_falls_back_to_one_stream(
    http_server: Server, data: DataFiles, tmp_path: Path, arun, name: str
) -> None:
    url = http_server.url(name, ignore_range=1)
    result = arun(curlmulti_dl.fetch(url, tmp_path, parts=8, **SMALL_PARTS))
    data.assert_same(name, result.path)
    assert result.connections == 1


@pytest.mark.parametrize("name", ["big.bin", "empty.bin"])
def test_unknown_length(
    http_server: Server, data: DataFiles, tmp_path: Path, arun, name: str
) -> None:
    result = arun(curlmulti_dl.fetch(http_server.url(name, no_length=1), tmp_path, parts=8))
    data.assert_same(name, result.path)
    assert result.size == FILES[name]


def test_redirect_followed_once_and_ranges_use_effective_url(
    http_server: Server, data: DataFiles, tmp_path: Path, arun
) -> None:
    url = http_server.url("big.bin", rate=8_000_000, redirect=2)
    before = stats(http_server)["requests"]
    result = arun(curlmulti_dl.fetch(url, tmp_path / "out.bin", parts=4, **SMALL_PARTS))
    data.assert_same("big.bin", result.path)
    assert result.effective_url == http_server.url("big.bin", rate=8_000_000)
    assert result.connections == 4
    # Two redirects answered once, then one request per range (no more redirects).
    assert stats(http_server)["requests"] - before == 2 + result.ranges


def served(server: Server, token: str) -> list[dict[str, int]]:
    """What the server sent for the requests carrying ``token``, in order."""
    return [r for r in stats(server)["log"] if f"t={token}" in r["target"]]


def test_rebalancing_moves_work_off_a_slow_connection(
    http_server: Server, data: DataFiles, tmp_path: Path, arun
) -> None:
    # Every 5th connection (server-wide) runs at a quarter of the others' pace.
    token = tmp_path.name
    url = http_server.url("big.bin", rate=2_000_000, slow_every=5, slow_rate=500_000, t=token)
    result = arun(curlmulti_dl.fetch(url, tmp_path, parts=8, min_split_size=64 * 1024))
    data.assert_same("big.bin", result.path)
    assert result.splits >= 1, "no idle connection took over work"
    assert result.ranges == 8 + result.splits + result.reconnects
    records = served(http_server, token)
    slow = [r for r in records if r["conn"] % 5 == 0]
    assert slow, records
    # Each planned part is 1/8 of the file; the slow connections gave most of theirs away.
    share = FILES["big.bin"] // 8
    assert all(r["sent"] < share * 0.6 for r in slow), (share, slow)
    assert sum(r["sent"] for r in records) >= FILES["big.bin"]


def test_far_slower_connection_is_replaced(
    http_server: Server, data: DataFiles, tmp_path: Path, arun
) -> None:
    # The first connection (the probe's) runs at 1/16 of the others' pace; a
    # new connection for its remaining bytes beats waiting for it.
    token = tmp_path.name
    url = http_server.url("huge.bin", rate=4_000_000, slow_rate=250_000, slow_token=token, t=token)
    result = arun(curlmulti_dl.fetch(url, tmp_path, parts=4))
    data.assert_same("huge.bin", result.path)
    assert result.reconnects >= 1
    assert result.ranges == 4 + result.splits + result.reconnects
    first = served(http_server, token)[0]
    assert first["start"] == 0
    # Left alone it would have sent its whole 12 MiB part at 0.25 MB/s.
    assert first["sent"] < 3 * 1024 * 1024, first


def test_quiet_tail_is_taken_over(
    http_server: Server, data: DataFiles, tmp_path: Path, arun
) -> None:
    # The first connection goes quiet for 5 s with 3000 bytes of its range left:
    # too little to split, so a free connection takes the tail over whole.
    token = tmp_path.name
    quiet_at = FILES["big.bin"] // 4 - 3000
    url = http_server.url(
        "big.bin",
        rate=8_000_000,
        slow_rate=8_000_000,
        slow_token=token,
        stall_at=quiet_at,
        stall_seconds=5,
        t=token,
    )
    result = arun(curlmulti_dl.fetch(url, tmp_path, parts=4, min_part_size=1))
    data.assert_same("big.bin", result.path)
    assert result.splits >= 1, (result.elapsed, result.connections)
    records = served(http_server, token)
    assert records[0]["start"] == 0 and records[0]["sent"] == quiet_at
    # Another connection fetched the tail from the very byte where the quiet one stopped.
    assert any(r["start"] == quiet_at for r in records[1:]), records


@pytest.mark.parametrize("status", [404, 500, 403])
def test_http_error_status(http_server: Server, tmp_path: Path, arun, status: int) -> None:
    url = http_server.url("big.bin", status=status)
    with pytest.raises(curlmulti_dl.HTTPStatusError) as info:
        arun(curlmulti_dl.fetch(url, tmp_path / "x.bin", retry=NO_RETRY))
    assert info.value.status == status
    assert info.value.url == url
    assert list(tmp_path.iterdir()) == []


def test_missing_file_is_404(http_server: Server, tmp_path: Path, arun) -> None:
    with pytest.raises(curlmulti_dl.HTTPStatusError) as info:
        arun(curlmulti_dl.fetch(http_server.url("no-such-file"), tmp_path))
    assert info.value.status == 404
    assert list(tmp_path.iterdir()) == []


def test_dropped_connection_fails_without_final_file(
    http_server: Server, data: DataFiles, tmp_path: Path, arun
) -> None:
    url = http_server.url("big.bin", drop_after=100_000)
    with pytest.raises(curlmulti_dl.TransportError) as info:
        arun(curlmulti_dl.fetch(url, tmp_path / "x.bin", parts=4, retry=NO_RETRY, **SMALL_PARTS))
    assert info.value.curl_code is not None
    assert_left_resumable(tmp_path, "x.bin")
    for leftover in tmp_path.iterdir():
        leftover.unlink()
    # With retries, a server that cuts every response after 100 000 bytes is
    # survived: every attempt delivered bytes, so none counts against the budget.
    few = curlmulti_dl.RetryPolicy(attempts=3, backoff_factor=0.01)
    result = arun(curlmulti_dl.fetch(url, tmp_path / "x.bin", parts=4, retry=few, **SMALL_PARTS))
    assert result.ranges >= FILES["big.bin"] // 100_000
    data.assert_same("big.bin", result.path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.bin"]


def test_file_changing_mid_download_is_caught(http_server: Server, tmp_path: Path, arun) -> None:
    url = http_server.url("big.bin", change=1)
    with pytest.raises(curlmulti_dl.RemoteFileChangedError):
        arun(curlmulti_dl.fetch(url, tmp_path / "x.bin", parts=4, **SMALL_PARTS))
    assert list(tmp_path.iterdir()) == []


def test_connection_refused(tmp_path: Path, arun) -> None:
    with pytest.raises(curlmulti_dl.ConnectError) as info:
        arun(curlmulti_dl.fetch("http://127.0.0.1:9/x.bin", tmp_path, retry=NO_RETRY))
    assert info.value.curl_code == 7
    assert list(tmp_path.iterdir()) == []


@pytest.mark.core
def test_cancellation_leaves_no_file_and_no_handles(
    http_server: Server, tmp_path: Path, arun
) -> None:
    url = http_server.url("huge.bin", rate=1_000_000)

    async def scenario() -> None:
        async with Downloader() as dl:
            task = asyncio.create_task(dl.fetch(url, tmp_path, parts=4, **SMALL_PARTS))
            await asyncio.sleep(0.5)
            assert (tmp_path / "huge.bin.part").exists()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert dl.bridge.active == 0
            assert_left_resumable(tmp_path, "huge.bin")
            assert (tmp_path / "huge.bin.part.journal").exists()

    arun(scenario())


def test_concurrent_fetches_share_one_multi(
    http_server: Server, data: DataFiles, tmp_path: Path, arun
) -> None:
    async def scenario() -> None:
        async with Downloader(max_host_connections=6) as dl:
            results = await asyncio.gather(
                dl.fetch(http_server.url("big.bin"), tmp_path / "a", parts=4, **SMALL_PARTS),
                dl.fetch(http_server.url("huge.bin"), tmp_path / "b", parts=4, **SMALL_PARTS),
                dl.fetch(http_server.url("odd.bin"), tmp_path / "c", parts=4, **SMALL_PARTS),
            )
        data.assert_same("big.bin", results[0].path)
        data.assert_same("huge.bin", results[1].path)
        data.assert_same("odd.bin", results[2].path)

    arun(scenario())


def test_host_budget_caps_connections(
    http_server: Server, data: DataFiles, tmp_path: Path, arun
) -> None:
    url = http_server.url("huge.bin", rate=8_000_000)

    async def scenario() -> None:
        async with Downloader(max_host_connections=3) as dl:
            result = await dl.fetch(url, tmp_path, parts=8, **SMALL_PARTS)
        data.assert_same("huge.bin", result.path)
        assert result.connections == 3

    arun(scenario())


def test_idle_connections_are_kept_for_reuse_and_closed_with_the_downloader(
    http_server: Server, data: DataFiles, tmp_path: Path, arun
) -> None:
    async def scenario() -> None:
        async with Downloader(max_host_connections=4) as dl:
            result = await dl.fetch(http_server.url("big.bin"), tmp_path, parts=4, **SMALL_PARTS)
            data.assert_same("big.bin", result.path)
            before = stats(http_server)["connections"]
            again = await dl.fetch(http_server.url("odd.bin"), tmp_path, parts=1)
            data.assert_same("odd.bin", again.path)
            # The second file came over a kept connection: no new one was opened
            # (the /_stats requests are the only new ones).
            assert stats(http_server)["connections"] - before == 1
        deadline = time.monotonic() + 2
        while stats(http_server)["active"] > 1 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert stats(http_server)["active"] == 1  # only the /_stats request itself

    arun(scenario())


def test_progress_snapshots(http_server: Server, data: DataFiles, tmp_path: Path, arun) -> None:
    seen: list[curlmulti_dl.ProgressSnapshot] = []
    url = http_server.url("big.bin", rate=8_000_000)
    result = arun(curlmulti_dl.fetch(url, tmp_path, parts=4, progress=seen.append))
    data.assert_same("big.bin", result.path)
    assert len(seen) >= 3
    done = [s.bytes_done for s in seen]
    assert done == sorted(done)
    assert seen[-1].bytes_done == seen[-1].total == FILES["big.bin"]
    assert any(s.connections == 4 for s in seen)
    assert any(s.speed > 0 for s in seen)


def test_lock_prevents_two_downloads_writing_one_part_file(
    http_server: Server, data: DataFiles, tmp_path: Path, arun
) -> None:
    url = http_server.url("huge.bin", rate=4_000_000)

    async def scenario() -> None:
        async with Downloader() as dl:
            first = asyncio.create_task(dl.fetch(url, tmp_path / "same.bin", parts=2))
            await asyncio.sleep(0.3)
            with pytest.raises(curlmulti_dl.DestinationLockedError):
                await dl.fetch(url, tmp_path / "same.bin", parts=2)
            result = await first
            data.assert_same("huge.bin", result.path)

    arun(scenario())


def test_existing_final_file_untouched_on_failure(
    http_server: Server, tmp_path: Path, arun
) -> None:
    target = tmp_path / "keep.bin"
    target.write_bytes(b"precious")
    with pytest.raises(curlmulti_dl.DownloadError):
        arun(curlmulti_dl.fetch(http_server.url("big.bin", drop_after=1000), target, parts=2))
    assert target.read_bytes() == b"precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.bin"]


def test_sync_download(http_server: Server, data: DataFiles, tmp_path: Path) -> None:
    result = curlmulti_dl.download(http_server.url("big.bin"), tmp_path, parts=4, **SMALL_PARTS)
    data.assert_same("big.bin", result.path)


def test_sync_download_inside_running_loop(
    http_server: Server, data: DataFiles, tmp_path: Path
) -> None:
    async def notebook_cell() -> curlmulti_dl.DownloadResult:
        return curlmulti_dl.download(http_server.url("odd.bin"), tmp_path, parts=4)

    result = asyncio.run(notebook_cell())
    data.assert_same("odd.bin", result.path)


@pytest.mark.parametrize(
    "url, error",
    [
        ("gopher://127.0.0.1/x", curlmulti_dl.InvalidURLError),
        ("not a url", curlmulti_dl.InvalidURLError),
        ("http:///nohost", curlmulti_dl.InvalidURLError),
        ("", curlmulti_dl.InvalidURLError),
    ],
)
def test_bad_urls(tmp_path: Path, arun, url: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        arun(curlmulti_dl.fetch(url, tmp_path))
    assert list(tmp_path.iterdir()) == []


def test_bad_parts(http_server: Server, tmp_path: Path, arun) -> None:
    with pytest.raises(ValueError, match="parts"):  # a bad argument, before any I/O
        arun(curlmulti_dl.fetch(http_server.url("one.bin"), tmp_path, parts=0))
