"""One typed surface: every entry point takes the same keywords with the same
meaning, refuses a bad one in the same words before any request, and raises
errors a caller can catch by their cause."""

from __future__ import annotations

import asyncio
import pickle
import time
from collections.abc import Awaitable, Callable
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

import curlmulti_dl
from curlmulti_dl import (
    Downloader,
    DownloadRequest,
    DownloadResult,
    HTTPStatusError,
    RebalancePolicy,
    RetriesExhaustedError,
    RetryPolicy,
)
from curlmulti_dl._config import DownloadOptions, FileOptions
from curlmulti_dl._keywords import (
    BatchOptions,
    BatchSettings,
    DownloaderOptions,
    Limits,
    check_options,
)
from curlmulti_dl.leases import LocalLeases

from .conftest import DataFiles, Server
from .conftest import server_stats as stats
from .test_cli import assert_one_line_error, cli

KiB, MiB = 1024, 1024 * 1024
NAME = "odd.bin"  # one range: a quick download per keyword


def file_values(data: DataFiles) -> dict[str, Any]:
    """A valid value of every per-file keyword, with which NAME still downloads."""
    return {
        "parts": 2,
        "min_part_size": 1 * MiB,
        "ftp_min_part_size": 8 * MiB,
        "min_split_size": 256 * KiB,
        "verify_tls": True,
        "cacert": None,
        "ftp_tls": False,
        "ftp_file_method": "nocwd",
        "connect_timeout": 10.0,
        "stall_timeout": 30.0,
        "stall_bytes_per_second": 1,
        "buffer_size": 64 * KiB,
        "write_buffer_size": 256 * KiB,
        "fsync": True,
        "overwrite": True,
        "reuse_connections": False,
        "preconnect": False,
        "retry": RetryPolicy(attempts=2),
        "checksum": f"sha256:{data.digests[NAME]}",
        "resume": False,
        "max_time": 60.0,
        "user_agent": "surface-test",
        "headers": {"X-Surface": "1"},
        "auth": ("user", "pw"),
        "netrc": False,
        "proxy": "",
        "noproxy": "127.0.0.1",
        "max_redirects": 3,
        "allow_insecure_redirects": False,
        "s3_endpoint": None,
        "s3_anonymous": True,
        "aws_sigv4": None,
        "ssh_known_hosts": None,
        "ssh_key": None,
    }


LIMIT_VALUES: dict[str, Any] = {
    "max_connections": 4,
    "max_host_connections": 4,
    "loop_budget": 0.01,
    "rebalance": RebalancePolicy(),
    "limit_recovery": 5.0,
    "max_bytes_per_second": 200 * MiB,
    "max_host_bytes_per_second": 200 * MiB,
    "connection_leases": "local",  # a LocalLeases, made per call (one loop each)
}


def limit(name: str) -> dict[str, Any]:
    value = LIMIT_VALUES[name]
    return {name: LocalLeases(4) if value == "local" else value}


def test_each_group_is_listed_once_and_matches_its_checked_value(data: DataFiles) -> None:
    assert set(FileOptions.__optional_keys__) == {f.name for f in fields(DownloadOptions)}
    assert set(DownloaderOptions.__optional_keys__) == {f.name for f in fields(Limits)}
    assert set(BatchOptions.__optional_keys__) == {f.name for f in fields(BatchSettings)}
    assert set(file_values(data)) == set(FileOptions.__optional_keys__)  # every one tried
    assert set(LIMIT_VALUES) == set(DownloaderOptions.__optional_keys__)
    for name in ("FileOptions", "DownloaderOptions", "BatchOptions"):
        assert name in curlmulti_dl.__all__


# ---------------------------------------------------------------- every keyword, everywhere


def entry_points(url: str, dest: Path) -> dict[str, Callable[[dict[str, Any]], DownloadResult]]:
    """Each entry point, downloading ``url`` into directory ``dest`` with
    the keywords given."""

    async def downloader_fetch(kw: dict[str, Any]) -> DownloadResult:
        async with Downloader() as dl:
            return await dl.fetch(url, dest, **kw)

    async def downloader_defaults(kw: dict[str, Any]) -> DownloadResult:
        async with Downloader(**kw) as dl:
            return await dl.fetch(url, dest)

    async def fetch_many(kw: dict[str, Any]) -> DownloadResult:
        async with Downloader() as dl, dl.fetch_many([url], dest, **kw) as batch:
            [result] = [r async for r in batch]
        return result

    def download_many(kw: dict[str, Any]) -> DownloadResult:
        results: list[DownloadResult] = []
        curlmulti_dl.download_many([url], dest, on_result=results.append, **kw)
        [result] = results
        return result

    return {
        "fetch": lambda kw: asyncio.run(curlmulti_dl.fetch(url, dest, **kw)),
        "download": lambda kw: curlmulti_dl.download(url, dest, **kw),
        "Downloader.fetch": lambda kw: asyncio.run(downloader_fetch(kw)),
        "Downloader()": lambda kw: asyncio.run(downloader_defaults(kw)),
        "fetch_many": lambda kw: asyncio.run(fetch_many(kw)),
        "download_many": download_many,
    }


ENTRY_POINTS = ["fetch", "download", "Downloader.fetch", "Downloader()", "fetch_many",
                "download_many"]  # fmt: skip


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_every_entry_point_takes_every_file_keyword(
    entry: str, http_server: Server, data: DataFiles, tmp_path: Path
) -> None:
    for name, value in file_values(data).items():
        dest = tmp_path / name
        dest.mkdir()
        result = entry_points(http_server.url(NAME), dest)[entry]({name: value})
        assert result.ok, (name, result.error)
        assert result.path == dest / NAME, name
        data.assert_same(NAME, dest / NAME)


@pytest.mark.parametrize("entry", ["fetch", "download", "Downloader()", "download_many"])
def test_the_entry_points_that_make_a_downloader_take_its_keywords(
    entry: str, http_server: Server, data: DataFiles, tmp_path: Path
) -> None:
    for name in LIMIT_VALUES:
        dest = tmp_path / name
        dest.mkdir()
        result = entry_points(http_server.url(NAME), dest)[entry](limit(name))
        assert result.ok, (name, result.error)
        data.assert_same(NAME, dest / NAME)


def test_the_listings_take_every_file_keyword(
    http_server: Server, data: DataFiles, arun: Callable[[Awaitable[Any]], Any]
) -> None:
    page = data.root / "surface-index" / "index.html"
    page.parent.mkdir(exist_ok=True)
    page.write_text(f'<a href="{NAME}">{NAME}</a>')
    url = http_server.url("surface-index/")

    async def run() -> None:
        async with Downloader() as dl:
            for name, value in file_values(data).items():
                listed = await dl.list_directory(url, **{name: value})
                assert [e.name for e in listed] == [NAME], name
                pages = [p async for p in dl.iter_directory(url, **{name: value})]
                assert [e.name for p in pages for e in p] == [NAME], name

    arun(run())


def test_fetch_takes_a_downloaders_keywords_on_one_of_its_own(
    own_http: Server, data: DataFiles, tmp_path: Path
) -> None:
    async def run() -> list[DownloadResult]:
        # Beside a call on the shared Downloader, one with limits of its own.
        shared = curlmulti_dl.fetch(own_http.url("big.bin"), tmp_path, parts=4)
        own = curlmulti_dl.fetch(
            own_http.url("huge.bin"), tmp_path, parts=4, max_connections=2, min_part_size=KiB
        )
        return list(await asyncio.gather(shared, own))

    big, huge = asyncio.run(run())
    data.assert_same("big.bin", tmp_path / "big.bin")
    data.assert_same("huge.bin", tmp_path / "huge.bin")
    assert huge.connections <= 2 and big.connections > 1
    assert len(curlmulti_dl._api._shared) == 0  # the shared one closed with its last call


def test_download_many_takes_a_rate_limit(
    http_server: Server, data: DataFiles, tmp_path: Path
) -> None:
    started = time.monotonic()
    summary = curlmulti_dl.download_many(
        [http_server.url(NAME)], tmp_path, max_bytes_per_second=2 * MiB
    )
    took = time.monotonic() - started
    assert (summary.succeeded, summary.failed_count) == (1, 0)
    data.assert_same(NAME, tmp_path / NAME)
    assert took >= 0.3, took  # ~1 MB at 2 MiB/s, the bucket starting empty


# ---------------------------------------------------------------- refusals, before any request


def refusals(url: str, dest: Path) -> dict[str, Callable[[dict[str, Any]], object]]:
    """Each entry point, called with the keywords given, taken as far as its
    first request would go."""

    async def fetch_many(kw: dict[str, Any]) -> None:
        async with Downloader() as dl, dl.fetch_many([url], dest, **kw) as batch:
            [r async for r in batch]

    async def listing(kw: dict[str, Any]) -> None:
        async with Downloader() as dl:
            await dl.list_directory(url + "/", **kw)

    async def pages(kw: dict[str, Any]) -> None:
        async with Downloader() as dl:
            [p async for p in dl.iter_directory(url + "/", **kw)]

    async def downloader_fetch(kw: dict[str, Any]) -> None:
        async with Downloader() as dl:
            await dl.fetch(url, dest, **kw)

    async def downloader(kw: dict[str, Any]) -> None:
        async with Downloader(**kw) as dl:
            await dl.fetch(url, dest)

    return {
        "fetch": lambda kw: asyncio.run(curlmulti_dl.fetch(url, dest, **kw)),
        "download": lambda kw: curlmulti_dl.download(url, dest, **kw),
        "download_many": lambda kw: curlmulti_dl.download_many([url], dest, **kw),
        "fetch_many": lambda kw: asyncio.run(fetch_many(kw)),
        "Downloader.fetch": lambda kw: asyncio.run(downloader_fetch(kw)),
        "Downloader()": lambda kw: asyncio.run(downloader(kw)),
        "list_directory": lambda kw: asyncio.run(listing(kw)),
        "iter_directory": lambda kw: asyncio.run(pages(kw)),
    }


BAD_FILE_VALUES = [
    ({"parts": 0}, "parts must be an integer >= 1, not 0"),
    ({"connect_timeout": float("nan")}, "connect_timeout must be a positive number"),
    ({"checksum": "sha256:nothex"}, "a sha256 checksum is 64 hexadecimal digits"),
    ({"headers": ["Range: bytes=0-"]}, "the Range header is set per range"),
    ({"max_redirects": -1}, "max_redirects must be an integer >= 0, not -1"),
    ({"min_part_size": "1M"}, "min_part_size must be an integer >= 1, not '1M'"),
]


@pytest.mark.parametrize("entry", list(refusals("", Path())))
def test_a_bad_value_or_keyword_is_refused_alike_before_any_request(
    entry: str, own_http: Server, tmp_path: Path
) -> None:
    call = refusals(own_http.url(NAME), tmp_path)[entry]
    for given, words in BAD_FILE_VALUES:
        with pytest.raises(ValueError) as bad:
            call(given)
        assert type(bad.value) is ValueError and words in str(bad.value), (given, bad.value)
    with pytest.raises(TypeError) as unknown:
        call({"part": 4})
    assert str(unknown.value) == "unknown option 'part' (did you mean 'parts'?)"
    makes_downloader = entry in ("fetch", "download", "download_many", "Downloader()")
    with pytest.raises(TypeError if not makes_downloader else ValueError) as limits:
        call({"max_connections": 0})
    if makes_downloader:
        assert str(limits.value) == "max_connections must be an integer >= 1, not 0"
    else:
        assert "max_connections is a Downloader's option" in str(limits.value)
    takes_batches = entry in ("fetch_many", "download_many")
    with pytest.raises(ValueError if takes_batches else TypeError) as batch:
        call({"depth": -1})
    if takes_batches:
        assert str(batch.value) == "depth must be an integer >= 0, not -1"
    else:
        assert "depth is a batch's option" in str(batch.value)
    assert list(tmp_path.iterdir()) == []
    assert stats(own_http)["requests"] == 0


def test_one_message_for_one_mistake() -> None:
    seen = set()
    for downloader, batch in ((False, False), (True, False), (False, True), (True, True)):
        with pytest.raises(ValueError) as bad:
            check_options({"stall_timeout": -1}, downloader=downloader, batch=batch)
        seen.add(str(bad.value))
    assert seen == {"stall_timeout must be a positive number of seconds, not -1"}


# ---------------------------------------------------------------- errors by their cause


def test_a_persistent_503_is_an_http_status_error_with_its_attempts(
    own_http: Server, tmp_path: Path
) -> None:
    retry = RetryPolicy(attempts=2, backoff_factor=0.01)
    with pytest.raises(HTTPStatusError) as caught:
        curlmulti_dl.download(own_http.url(NAME, status=503), tmp_path, retry=retry)
    error = caught.value
    assert isinstance(error, RetriesExhaustedError) and error.status == 503
    assert len(error.attempts) == 3 == stats(own_http)["requests"]
    assert all(isinstance(e, HTTPStatusError) and e.status == 503 for e in error.attempts)
    assert error.last_error is error.attempts[-1] and error.__cause__ is error.last_error
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is type(error) and isinstance(back, HTTPStatusError)
    assert (back.status, len(back.attempts), str(back)) == (503, 3, str(error))
    assert list(tmp_path.iterdir()) == []


def test_a_batch_result_says_where_a_failed_file_would_have_gone(
    http_server: Server, tmp_path: Path
) -> None:
    missing = http_server.url("no-such-file.bin")
    glob = http_server.url("no-such-dir/*.bin")
    results: list[DownloadResult] = []
    summary = curlmulti_dl.download_many(
        [missing, DownloadRequest(missing, dest="sub/renamed.bin"), glob],
        tmp_path,
        on_result=results.append,
        retry=RetryPolicy(attempts=0),
    )
    paths = {(r.url, r.path) for r in results}
    assert (missing, tmp_path / "no-such-file.bin") in paths
    assert (missing, tmp_path / "sub" / "renamed.bin") in paths
    assert (glob, None) in paths  # a listing that failed: no file was ever named
    assert summary.failed_count == 3 and len(summary.failed) == 3
    with pytest.warns(DeprecationWarning, match="failed_count"):
        assert summary.failures == 3
    assert "3 failed" in str(summary)


# ---------------------------------------------------------------- the command line


@pytest.mark.parametrize(
    "args, words",
    [
        (["--timeout", "-1"], ["--timeout must be a positive number of seconds"]),
        (["--retries", "-1"], ["--retries must be >= 0"]),
        (["--max-connections", "0"], ["--max-connections must be an integer >= 1, not 0"]),
        (["--max-redirs", "-2"], ["--max-redirs must be an integer >= 0, not -2"]),
        (["--level", "-1"], ["--level must be an integer >= 0, not -1"]),
        (["--checksum", "sha256:xyz"], ["sha256 checksum is 64 hexadecimal digits"]),
        (["-H", "Range: bytes=1-"], ["the Range header is set per range"]),
    ],
)
def test_the_command_reports_the_options_check_in_its_flags(
    args: list[str], words: list[str], own_http: Server, tmp_path: Path
) -> None:
    done = cli(*args, own_http.url(NAME), cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert_one_line_error(done.stderr, *words)
    assert list(tmp_path.iterdir()) == []
    assert stats(own_http)["requests"] == 0
