"""Batches: many files on one Downloader under one budget, results as they
come, failures as results. Real transfers on loopback, every sha256 checked."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import curlmulti_dl
from curlmulti_dl import Downloader, DownloadRequest, DownloadResult

from .conftest import DataFiles, Server
from .conftest import server_stats as stats

KiB = 1024


def batch_files(data: DataFiles, prefix: str, count: int, size: int) -> list[str]:
    return [data.add(f"{prefix}/{prefix}-{i:04d}.bin", size) for i in range(count)]


def test_the_host_cap_holds_across_200_files_and_connections_are_reused(
    own_http: Server, data: DataFiles, tmp_path: Path, arun
) -> None:
    small = batch_files(data, "cap-small", 190, 20 * KiB)
    large = batch_files(data, "cap-large", 10, 3 << 20)
    names = small + large

    async def run() -> list[DownloadResult]:
        async with Downloader(max_host_connections=4) as dl:
            urls = [own_http.url(n) for n in names]
            async with dl.fetch_many(urls, tmp_path, parts=8, min_part_size=256 * KiB) as batch:
                return [r async for r in batch]

    results = arun(run())
    assert len(results) == 200
    assert [r.error for r in results if not r.ok] == []
    for name in names:
        data.assert_same(name, tmp_path / Path(name).name)
    seen = stats(own_http)
    assert seen["max_active"] <= 4, seen  # idle kept connections included
    assert seen["connections"] <= 40, seen  # far fewer connections than files


def test_failures_are_results_and_never_stop_the_others(
    http_server: Server, data: DataFiles, tmp_path: Path, arun
) -> None:
    good = batch_files(data, "mixed", 12, 50 * KiB)
    items: list[str | DownloadRequest] = [http_server.url(n) for n in good]
    items.insert(3, http_server.url("nothing-here.bin"))  # 404
    items.insert(7, "gopher://127.0.0.1/x")  # a scheme we do not speak
    items.append(http_server.url(good[0]))  # the same output file again
    items.append(DownloadRequest(http_server.url(good[1]), dest="renamed.bin"))
    wrong = "sha256:" + "0" * 64
    items.append(DownloadRequest(http_server.url(good[2]), dest="checked.bin", checksum=wrong))

    async def run() -> tuple[list[DownloadResult], curlmulti_dl.BatchSummary]:
        async with Downloader() as dl:
            async with dl.fetch_many(
                items, tmp_path, retry=curlmulti_dl.RetryPolicy(attempts=0)
            ) as batch:
                results = [r async for r in batch]
            return results, batch.summary

    results, summary = arun(run())
    assert len(results) == len(items)
    failed = {r.url: r.error for r in results if not r.ok}
    assert isinstance(failed[http_server.url("nothing-here.bin")], curlmulti_dl.HTTPStatusError)
    assert isinstance(failed["gopher://127.0.0.1/x"], curlmulti_dl.InvalidURLError)
    duplicates = [e for e in failed.values() if isinstance(e, curlmulti_dl.DuplicateOutputError)]
    assert len(duplicates) == 1
    assert any(isinstance(e, curlmulti_dl.ChecksumMismatchError) for e in failed.values())
    assert summary.succeeded == 13 and len(summary.failed) == 4 and summary.total == 17
    for name in good:
        data.assert_same(name, tmp_path / Path(name).name)
    data.assert_same(good[1], tmp_path / "renamed.bin")
    assert not (tmp_path / "checked.bin").exists()


def test_items_are_taken_lazily_within_the_lookahead(
    http_server: Server, data: DataFiles, tmp_path: Path, arun
) -> None:
    names = batch_files(data, "lazy", 40, 100 * KiB)
    pulled: list[int] = []

    def items() -> Iterator[str]:
        for i, name in enumerate(names):
            pulled.append(i)
            yield http_server.url(name, rate=400_000)

    async def run() -> list[int]:
        seen_at_results = []
        dl = Downloader(max_host_connections=4)
        async with dl, dl.fetch_many(items(), tmp_path, lookahead=6) as batch:
            async for result in batch:
                assert result.ok, result.error
                seen_at_results.append(len(pulled))
        return seen_at_results

    seen = arun(run())
    assert len(seen) == 40
    # At the first result, at most the look-ahead (and the one waiting for a
    # place) had been read from the input.
    assert seen[0] <= 7, seen
    for name in names:
        data.assert_same(name, tmp_path / Path(name).name)


def test_an_async_iterator_of_items(
    http_server: Server, data: DataFiles, tmp_path: Path, arun
) -> None:
    names = batch_files(data, "async-items", 5, 30 * KiB)

    async def items() -> AsyncIterator[str]:
        for name in names:
            await asyncio.sleep(0)
            yield http_server.url(name)

    async def run() -> curlmulti_dl.BatchSummary:
        async with Downloader() as dl:
            async with dl.fetch_many(items(), tmp_path) as batch:
                pass  # leaving the block waits for every file
            return batch.summary

    summary = arun(run())
    assert summary.succeeded == 5
    for name in names:
        data.assert_same(name, tmp_path / Path(name).name)


def test_a_rerun_skips_what_is_there_and_skip_existing_asks_nothing(
    own_http: Server, data: DataFiles, tmp_path: Path
) -> None:
    names = batch_files(data, "rerun", 6, 40 * KiB)
    urls = [own_http.url(n) for n in names]
    first = curlmulti_dl.download_many(urls, tmp_path)
    assert first.succeeded == 6
    (tmp_path / Path(names[0]).name).unlink()  # one is missing again
    results: list[DownloadResult] = []
    again = curlmulti_dl.download_many(urls, tmp_path, on_result=results.append)
    assert (again.succeeded, again.skipped) == (1, 5)
    assert sorted(r.skipped for r in results) == [False] + [True] * 5
    before = stats(own_http)["requests"]
    skipped = curlmulti_dl.download_many(urls, tmp_path, skip_existing=True)
    assert skipped.skipped == 6
    assert stats(own_http)["requests"] == before  # not one request
    for name in names:
        data.assert_same(name, tmp_path / Path(name).name)


def test_time_in_line_is_not_download_time(
    http_server: Server, data: DataFiles, tmp_path: Path, arun
) -> None:
    # One slot: the second file waits about a second for it, then takes
    # about a second; max_time=1.6 is about its own download only.
    first = data.add("line-a.bin", 400 * KiB)
    second = data.add("line-b.bin", 400 * KiB)

    async def run() -> list[DownloadResult]:
        async with Downloader(max_host_connections=1) as dl:
            a = dl.fetch(http_server.url(first, rate=400_000), tmp_path, parts=1)
            b = dl.fetch(http_server.url(second, rate=400_000), tmp_path, parts=1, max_time=1.6)
            return list(await asyncio.gather(a, b))

    a, b = arun(run())
    data.assert_same(first, a.path)
    data.assert_same(second, b.path)
    assert b.queued >= 0.5, b
    assert a.queued < 0.5, a


def test_connections_of_a_finished_file_move_to_the_ranges_left_in_another(
    own_http: Server, data: DataFiles, tmp_path: Path, arun
) -> None:
    # Paced, so that the short file ends while the long one still has work.
    short = data.add("move/short.bin", 2 << 20)
    long = data.add("move/long.bin", 12 << 20)
    rate = "?rate=2000000"

    async def run() -> list[DownloadResult]:
        async with Downloader(max_host_connections=4) as dl:
            urls = [own_http.url(short) + rate, own_http.url(long) + rate]
            async with dl.fetch_many(urls, tmp_path, parts=4, min_part_size=256 * KiB) as batch:
                return [r async for r in batch]

    results = arun(run())
    assert [r.error for r in results] == [None, None]
    data.assert_same(short, tmp_path / "short.bin")
    data.assert_same(long, tmp_path / "long.bin")
    found = json.load(urllib.request.urlopen(f"{own_http.base}/_stats"))
    # Ranges cut short close their connection; the cap still holds at the server.
    assert found["max_active"] <= 4, found
    served: dict[int, list[str]] = {}
    for record in found["log"]:
        served.setdefault(record["conn"], []).append(record["target"].split("?")[0])
    moved = [
        conn
        for conn, targets in served.items()
        if targets[0].endswith("short.bin") and any(t.endswith("long.bin") for t in targets)
    ]
    # The server saw one connection carry ranges of both files, short first.
    assert moved, served
