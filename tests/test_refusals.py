"""A refusal is not a failure: a host that refuses one more connection while
it serves this run lowers its limit, and the range waits in line outside the
file's retry budget. Retry-After holds the whole host. Real servers, sha256."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from pathlib import Path

import pytest

import curlmulti_dl
from curlmulti_dl import RetryPolicy
from curlmulti_dl.protocol.urls import parse_origin

from .conftest import DataFiles, Server, start_server, stop_server


def refused_so_far(server: Server) -> int:
    stats = json.load(urllib.request.urlopen(f"{server.base}/_stats"))
    return int(stats["refused"])


def test_an_ftp_host_allowing_fewer_sessions_than_parts_fails_nothing(
    data: DataFiles, tmp_path: Path, arun
) -> None:
    # 3 sessions per client, 8 ranges asked at once: 5 refusals (421) arrive
    # together. With the default budget (5 failures in a row) they used to
    # fail the file; now they only lower the host's limit.
    server = start_server(
        "ftpd.py", "--root", str(data.root), "--max-cons-per-ip", "3", scheme="ftp"
    )
    try:
        result = arun(
            curlmulti_dl.fetch(
                server.url("huge.bin"), tmp_path, parts=8, ftp_min_part_size=1,
                retry=RetryPolicy(attempts=2),
            )
        )  # fmt: skip
        data.assert_same("huge.bin", result.path)
    finally:
        stop_server(server)


def test_an_http_host_answering_503_beyond_its_cap_fails_nothing(
    http_server: Server, data: DataFiles, tmp_path: Path, arun
) -> None:
    name = data.add("capped-refusals.bin", 12 << 20)
    before = refused_so_far(http_server)
    url = http_server.url(name, max_conns=2, rate=6_000_000)
    # One failure allowed in a row: the refusals of the ranges asked at the
    # same moment would exhaust it if they counted.
    result = arun(
        curlmulti_dl.fetch(url, tmp_path, parts=8, min_part_size=1, retry=RetryPolicy(attempts=1))
    )
    data.assert_same(name, result.path)
    refused = refused_so_far(http_server) - before
    assert 1 <= refused <= 12, refused  # held to what it serves: no storm


def test_refusals_count_when_the_host_serves_nothing(
    http_server: Server, data: DataFiles, tmp_path: Path, arun
) -> None:
    # A host that refuses every request serves nothing: the budget applies.
    name = data.add("refuses-all.bin", 10_000)
    url = http_server.url(name, fail_first=100, fail_status=429)
    policy = RetryPolicy(attempts=2, backoff_factor=0.01)
    with pytest.raises(curlmulti_dl.RetriesExhaustedError) as caught:
        arun(curlmulti_dl.fetch(url, tmp_path, retry=policy))
    assert isinstance(caught.value.last_error, curlmulti_dl.HTTPStatusError)
    assert caught.value.last_error.status == 429
    assert not list(tmp_path.iterdir())


def test_retry_after_holds_the_host_not_only_the_range(
    http_server: Server, data: DataFiles, tmp_path: Path, arun
) -> None:
    # The first file's first request is answered 503 with Retry-After: 2.
    # A second file of the same host, asked right after, waits for the same
    # two seconds: nothing goes to the host before its Retry-After.
    first = data.add("retry-after-a.bin", 50_000)
    second = data.add("retry-after-b.bin", 50_000)

    async def both() -> tuple[float, float, curlmulti_dl.DownloadResult]:
        async with curlmulti_dl.Downloader() as dl:
            started = time.monotonic()
            url_a = http_server.url(first, fail_first=1, retry_after=2)
            task_a = asyncio.ensure_future(dl.fetch(url_a, tmp_path))
            host = parse_origin(url_a).host_key
            while not dl.scheduler.paused_until(host):
                await asyncio.sleep(0.01)
            b = await dl.fetch(http_server.url(second), tmp_path)
            b_done = time.monotonic() - started
            a = await task_a
            data.assert_same(first, a.path)
            return b_done, time.monotonic() - started, b

    b_done, a_done, b = arun(both())
    data.assert_same(second, b.path)
    assert b_done >= 1.9, b_done
    assert a_done >= 1.9, a_done
