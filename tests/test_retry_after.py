"""Retry-After is an appointment, not a failure: a host answering 429/503
with Retry-After is waited for as told, spending no retries, within the
file's retry_wait_max; past it the file fails with the last status. On the
real test HTTP server, which notes when each refusal went out; sha256 checked."""

from __future__ import annotations

import itertools
import json
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

import curlmulti_dl
from curlmulti_dl import RetryPolicy

from .conftest import DataFiles, Server
from .test_cli import assert_one_line_error, cli


def requests_for(server: Server, name: str) -> list[float]:
    """When each request for ``name`` reached the server (refused or served),
    on the server's clock, in order."""
    with urllib.request.urlopen(f"{server.base}/_stats") as response:
        stats: dict[str, Any] = json.load(response)
    ours = [r for r in stats["refusals"] if r["target"].split("?")[0] == f"/{name}"]
    times = [float(r["at"]) for r in ours]
    times += [float(r["began"]) for r in stats["log"] if r["target"].split("?")[0] == f"/{name}"]
    return sorted(times)


def assert_kept_the_appointments(times: list[float], refusals: int, asked: float) -> None:
    """``refusals`` refusals, and no request sooner than ``asked`` s after one."""
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert len(times) >= refusals + 1, times
    assert all(gap >= asked for gap in gaps[:refusals]), gaps


@pytest.mark.parametrize(("status", "attempts"), [(503, 5), (429, 2)])
def test_six_refusals_with_retry_after_cost_no_retries(
    http_server: Server, data: DataFiles, tmp_path: Path, arun, status: int, attempts: int
) -> None:
    # Six answers asking for one second each: more than the retry budget
    # (5 by default, or 2), yet the file downloads after about six seconds.
    name = data.add(f"appointments/six-{status}-{attempts}.bin", 300_000)
    url = http_server.url(name, fail_first=6, fail_status=status, retry_after=1)
    policy = RetryPolicy(attempts=attempts, backoff_factor=0.01)
    result = arun(curlmulti_dl.fetch(url, tmp_path, parts=4, min_part_size=1, retry=policy))
    data.assert_same(name, result.path)
    assert_kept_the_appointments(requests_for(http_server, name), 6, 1.0)


def test_a_host_that_keeps_asking_fails_the_file_past_its_wait_budget(
    http_server: Server, data: DataFiles, tmp_path: Path, arun
) -> None:
    name = data.add("appointments/always.bin", 50_000)
    url = http_server.url(name, fail_first=10_000, retry_after=1)
    policy = RetryPolicy(retry_wait_max=2.5)  # two waits of a second; the third is one too many
    started = time.monotonic()
    with pytest.raises(curlmulti_dl.HTTPStatusError) as caught:
        arun(curlmulti_dl.fetch(url, tmp_path, retry=policy))
    took = time.monotonic() - started
    assert caught.value.status == 503
    assert "kept asking to wait" in caught.value.message
    assert 2.0 <= took < 3.5, took  # not five back-offs, not forever
    times = requests_for(http_server, name)
    assert len(times) == 3, times
    assert_kept_the_appointments(times, 2, 1.0)
    assert not list(tmp_path.iterdir())


def test_a_wait_longer_than_the_budget_fails_at_once(
    http_server: Server, data: DataFiles, tmp_path: Path, arun
) -> None:
    name = data.add("appointments/an-hour.bin", 50_000)
    url = http_server.url(name, fail_first=10_000, fail_status=429, retry_after=3600)
    started = time.monotonic()
    with pytest.raises(curlmulti_dl.HTTPStatusError) as caught:
        arun(curlmulti_dl.fetch(url, tmp_path))  # the default budget: 300 s
    assert time.monotonic() - started < 1.0  # no waiting for nothing
    assert caught.value.status == 429
    assert "asked to wait 3600 s, past the 300 s a file waits" in caught.value.message
    assert len(requests_for(http_server, name)) == 1


# How long the batch may take: one refusing file fails after its two waits;
# five go one at a time once the host is held to one connection (a host that
# serves nothing is probed with one: its refusal may be about our connections).
@pytest.mark.parametrize(("refusing", "within"), [(1, 4.0), (5, 10.0)])
def test_in_a_batch_each_file_keeps_its_own_appointments(
    http_server: Server, data: DataFiles, tmp_path: Path, arun, refusing: int, within: float
) -> None:
    # Five files of one host, the first ``refusing`` of them always answered
    # 503 with Retry-After: 1. Each of those fails after its own two waits,
    # never for another's; the others download.
    names = [data.add(f"appointments/batch-{refusing}-{n}.bin", 200_000 + n) for n in range(5)]
    urls = [
        http_server.url(name, fail_first=10_000, retry_after=1) if n < refusing
        else http_server.url(name)
        for n, name in enumerate(names)
    ]  # fmt: skip
    policy = RetryPolicy(retry_wait_max=2.5)

    async def run() -> list[curlmulti_dl.DownloadResult]:
        async with (
            curlmulti_dl.Downloader() as dl,
            dl.fetch_many(urls, tmp_path, parts=2, min_part_size=1, retry=policy) as batch,
        ):
            return [result async for result in batch]

    started = time.monotonic()
    results = arun(run())
    took = time.monotonic() - started
    assert took < within, took
    by_url = {result.url: result for result in results}
    assert len(by_url) == 5
    for n, (name, url) in enumerate(zip(names, urls, strict=True)):
        result = by_url[url]
        if n < refusing:
            assert isinstance(result.error, curlmulti_dl.HTTPStatusError), result.error
            assert result.error.status == 503
            assert "kept asking to wait" in result.error.message
            times = requests_for(http_server, name)
            assert len(times) == 3, times
            assert_kept_the_appointments(times, 2, 1.0)
        else:
            assert result.error is None, result.error
            data.assert_same(name, result.path)


def test_the_command_waits_as_told_and_says_in_one_line_when_it_gives_up(
    http_server: Server, data: DataFiles, tmp_path: Path
) -> None:
    name = data.add("appointments/cli-six.bin", 100_000)
    url = http_server.url(name, fail_first=6, fail_status=429, retry_after=1)
    done = cli("-q", "--retries", "2", "-d", str(tmp_path), url)
    assert done.returncode == 0, done.stderr
    data.assert_same(name, tmp_path / "cli-six.bin")
    assert_kept_the_appointments(requests_for(http_server, name), 6, 1.0)

    name = data.add("appointments/cli-always.bin", 100_000)
    url = http_server.url(name, fail_first=10_000, retry_after=1)
    done = cli("-q", "--retry-wait-max", "2.5", "-d", str(tmp_path), url)
    assert done.returncode == 1
    assert_one_line_error(done.stderr, "503", "kept asking to wait", "past the 2.5 s")
    assert not (tmp_path / "cli-always.bin").exists()


@pytest.mark.parametrize("status", [429, 503])
def test_a_refusal_with_an_empty_body_and_no_retry_after_spends_retries(
    own_http: Server, data: DataFiles, tmp_path: Path, arun, status: int
) -> None:
    # An empty body ends the transfer cleanly (curl 0): that is no service,
    # and without Retry-After no appointment. It was asked ~700 times a second.
    name = data.add(f"appointments/empty-{status}.bin", 20_000)
    url = own_http.url(name, fail_first=10_000, fail_status=status, empty=1)
    policy = RetryPolicy(attempts=2, backoff_factor=0.05)
    began = time.monotonic()
    with pytest.raises(curlmulti_dl.RetriesExhaustedError) as caught:
        arun(curlmulti_dl.fetch(url, tmp_path, retry=policy))
    assert time.monotonic() - began < 10
    assert isinstance(caught.value.last_error, curlmulti_dl.HTTPStatusError)
    assert caught.value.last_error.status == status
    assert len(requests_for(own_http, name)) == 3  # the first, and two retries
    assert list(tmp_path.iterdir()) == []
