"""Listings are bounded input: an S3 prefix comes a page at a time (a million
keys never in memory at once), repeats are dropped, a loop of pages or of
directories ends in one clean failure, and a listing that cannot be read
fails its own item only. Real servers on 127.0.0.1, every sha256 checked."""

from __future__ import annotations

import hashlib
import json
import tracemalloc
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
import pytest

import curlmulti_dl
from curlmulti_dl.protocol.listing import Entry

from .conftest import DataFiles, Server, start_server, stop_server
from .test_cli import cli, json_lines

S3 = {"s3_endpoint": "", "s3_anonymous": True}


def store(*args: str) -> Iterator[Server]:
    server = start_server("s3pages.py", *args, scheme="http")
    yield server
    stop_server(server)


@pytest.fixture
def million() -> Iterator[Server]:
    yield from store("--keys", "1000000", "--page", "100")


@pytest.fixture
def many() -> Iterator[Server]:
    yield from store("--keys", "50000")


def counts(server: Server) -> dict[str, int]:
    found: dict[str, int] = json.load(urllib.request.urlopen(f"{server.base}/_stats"))
    return found


def s3_options(server: Server) -> dict[str, object]:
    return {**S3, "s3_endpoint": server.base}


def test_keys_come_a_page_at_a_time(many: Server) -> None:
    # (A million keys: the same, about 35 s here; benchmarks/README has the figure.)
    async def main() -> tuple[int, int, int, int]:
        async with curlmulti_dl.Downloader() as dl:
            pages = dl.iter_directory("s3://bucket/prefix/", **s3_options(many))
            first = await pages.__anext__()
            asked_after_first = counts(many)["pages"]
            tracemalloc.start()
            keys, last = len(first), first[-1].name
            async for page in pages:
                keys += len(page)
                assert all(entry.name > last for entry in page)  # in order, no repeat
                last = page[-1].name
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            return asked_after_first, keys, peak, counts(many)["pages"]

    asked_after_first, keys, peak, pages = anyio.run(main)
    assert asked_after_first == 1  # the next page is asked for when it is wanted
    assert keys == 50_000 and pages == 50
    # The whole listing as entries would take ~12 MB; a page at a time, a page.
    assert peak < 4 * 1024 * 1024, peak


def test_a_batch_over_a_million_keys_lists_only_as_far_as_it_fetches(
    million: Server, tmp_path: Path
) -> None:
    async def main() -> tuple[list[curlmulti_dl.DownloadResult], int]:
        results = []
        async with (
            curlmulti_dl.Downloader(max_host_connections=8) as dl,
            dl.fetch_many(
                ["s3://bucket/prefix/*"], dest_dir, lookahead=64, **s3_options(million)
            ) as batch,
        ):
            async for result in batch:
                results.append(result)
                if len(results) == 300:
                    break
            pages = counts(million)["pages"]
            await batch.aclose()
        return results, pages

    dest_dir = tmp_path
    results, pages = anyio.run(main)
    assert all(r.ok for r in results), [str(r.error) for r in results if not r.ok][:3]
    # 300 files and a look-ahead of 64: three or four pages of 100 keys, of 10,000
    assert 3 <= pages <= 5, pages
    for result in results[:50]:
        key = "prefix/" + result.path.name
        expected = hashlib.sha256(f"body of {key}\n".encode()).hexdigest()
        assert hashlib.sha256(result.path.read_bytes()).hexdigest() == expected


def test_a_store_that_repeats_itself_fails_once(tmp_path: Path) -> None:
    for server in store("--keys", "5000", "--overlap", "10"):
        entries = anyio.run(_list, server)
        assert [e.name for e in entries] == [f"key-{n:07d}" for n in range(5000)]
    for server in store("--keys", "5000", "--overlap", "10", "--unsorted"):
        entries = anyio.run(_list, server)  # unsorted: every key still, once
        assert sorted(e.name for e in entries) == [f"key-{n:07d}" for n in range(5000)]
    for server in store("--keys", "5000", "--repeat-token"):
        with pytest.raises(curlmulti_dl.ProtocolError, match="same continuation token"):
            anyio.run(_list, server)
        assert counts(server)["pages"] == 2


async def _list(server: Server) -> list[Entry]:
    async with curlmulti_dl.Downloader() as dl:
        found: list[Entry] = await dl.list_directory("s3://bucket/prefix/", **s3_options(server))
        return found


def test_an_endless_tree_ends_at_the_entry_cap(
    crafted_ftp: Callable[..., Server], tmp_path: Path
) -> None:
    # Every directory holds two more: a walk that only depth would stop.
    server = crafted_ftp(mlsd="type=dir; a\r\ntype=dir; b\r\ntype=cdir; .\r\n")
    done = cli(
        "-d", str(tmp_path), "-r", "-l", "40", "--max-listing-entries", "60",
        f"{server.base}/*.bin",
    )  # fmt: skip
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and "more than 60 entries" in errors[0], done.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_listing_that_cannot_be_read_fails_its_item_only(
    crafted_ftp: Callable[..., Server], http_server: Server, data: DataFiles, tmp_path: Path
) -> None:
    bad = "type=file;size=²;modify=20231123000000; seven.bin\r\n"  # (passes isdigit())
    server = crafted_ftp(mlsd=bad)
    listing = tmp_path / "list.txt"
    listing.write_text(
        f"{server.base}/*.bin\n{http_server.url('odd.bin')}\n{server.base}/seven.bin\n"
    )
    out = tmp_path / "out"
    done = cli("-i", str(listing), "-d", str(out), "--json")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    records, summary = json_lines(done.stdout)
    assert (summary["downloaded"], summary["failed"]) == (2, 1)
    [failed] = [r for r in records if not r["ok"]]
    assert failed["error"]["type"] == "ProtocolError"
    data.assert_same("odd.bin", out / "odd.bin")
    data.assert_same("seven.bin", out / "seven.bin")


def test_a_walk_into_a_directory_that_cannot_be_made_fails_those_files_only(
    crafted_ftp: Callable[..., Server], data: DataFiles, tmp_path: Path
) -> None:
    top = data.add("walked/top.bin", 700)
    data.add("walked/sub/top.bin", 700)  # there, but its local directory cannot be made
    # Every directory lists the same: one file, one subdirectory "sub".
    server = crafted_ftp(mlsd="type=file;size=700; top.bin\r\ntype=dir; sub\r\n")
    (tmp_path / "sub").write_bytes(b"a file of mine where the walk wants a directory")
    done = cli("-d", str(tmp_path), "-r", "-l", "1", "--json", f"{server.base}/walked/*.bin")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    records, summary = json_lines(done.stdout)
    assert (summary["downloaded"], summary["failed"]) == (1, 1)
    [failed] = [r for r in records if not r["ok"]]
    assert failed["error"]["type"] == "StorageError" and "sub" in failed["error"]["message"]
    data.assert_same(top, tmp_path / "top.bin")
    assert (tmp_path / "sub").read_bytes().startswith(b"a file of mine")


def test_a_page_larger_than_any_real_one_is_refused() -> None:
    # 100,000 keys in one page (S3 gives at most 1,000): 11 MB of XML.
    for server in store("--keys", "100000", "--page", "100000"):
        with pytest.raises(curlmulti_dl.ListingLimitError, match="larger than"):
            anyio.run(_list, server)


def test_a_name_listed_as_a_file_and_a_directory_is_said(
    crafted_ftp: Callable[..., Server], data: DataFiles, tmp_path: Path
) -> None:
    top = data.add("walked/top.bin", 700)
    server = crafted_ftp(mlsd="type=file;size=700; top.bin\r\ntype=dir; top.bin\r\n")
    done = cli("-d", str(tmp_path), "-r", "-l", "1", "--json", f"{server.base}/walked/*.bin")
    assert done.returncode == 1
    records, summary = json_lines(done.stdout)
    assert (summary["downloaded"], summary["failed"]) == (1, 1)
    [failed] = [r for r in records if not r["ok"]]
    assert failed["error"]["type"] == "DuplicateOutputError"
    assert "both as a file and as a directory" in failed["error"]["message"]
    data.assert_same(top, tmp_path / "top.bin")
