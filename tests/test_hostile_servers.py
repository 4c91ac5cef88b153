"""Servers that state sizes no file can have, or list what cannot be read, on
real transfers on loopback: the file fails with ``ProtocolError`` (no
``OverflowError`` from a loop callback), nothing is left under its name, and
the command says so in one line with exit status 1."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

import curlmulti_dl
from curlmulti_dl import Downloader, ProtocolError

from .conftest import FILES, DataFiles, Server
from .test_cli import assert_one_line_error, cli

NO_RETRY = curlmulti_dl.RetryPolicy(attempts=0)
HUGE = [str(2**63), str(2**64)]


def assert_refused(url: str, directory: Path, *words: str) -> None:
    """``fetch`` raises ProtocolError and leaves nothing; so does the command."""
    with pytest.raises(ProtocolError) as caught:
        asyncio.run(curlmulti_dl.fetch(url, directory, parts=4, retry=NO_RETRY))
    for word in words:
        assert word in str(caught.value)
    assert list(directory.iterdir()) == []  # neither odd.bin nor odd.bin.part nor a journal
    done = cli(url, "-d", str(directory))
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and "OverflowError" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and "2**63" in lines[0], done.stderr
    assert list(directory.iterdir()) == []


@pytest.mark.parametrize("total", HUGE)
@pytest.mark.parametrize("ranges", ["honoured", "ignored"])
def test_http_size_of_two_to_the_63_or_more(
    http_server: Server, data: DataFiles, tmp_path: Path, total: str, ranges: str
) -> None:
    # Honoured: the total of a 206's Content-Range; ignored: a 200's Content-Length.
    query = {"ignore_range": 1} if ranges == "ignored" else {}
    url = http_server.url("odd.bin", fake_total=total, **query)
    name = "Content-Range total" if ranges == "honoured" else "Content-Length"
    assert_refused(url, tmp_path, name, total)
    # The fault mode states the size it is given: the true one downloads whole.
    good = http_server.url("odd.bin", fake_total=FILES["odd.bin"], **query)
    result = asyncio.run(curlmulti_dl.fetch(good, tmp_path, parts=4, min_part_size=1))
    data.assert_same("odd.bin", result.path)


@pytest.mark.parametrize("total", HUGE)
@pytest.mark.parametrize("mlst", [True, False])
def test_ftp_size_of_two_to_the_63_or_more(
    crafted_ftp: Callable[..., Server], tmp_path: Path, total: str, mlst: bool
) -> None:
    # With MLST, its size fact says it; without, the SIZE answer does.
    server = crafted_ftp(size=total, mlst=mlst)
    assert_refused(server.url("odd.bin"), tmp_path, "MLST size" if mlst else "SIZE answer")


@pytest.mark.parametrize(
    "line",
    [
        "type=file;size=²; superscript.nc",
        f"type=file;size={'9' * 5000}; long.nc",
        f"type=file;size={2**63}; huge.nc",
    ],
)
def test_mlsd_line_that_cannot_be_read_fails_the_listing(
    crafted_ftp: Callable[..., Server], line: str
) -> None:
    good = "type=file;size=7;modify=20231123000000; seven.bin\r\n"
    server = crafted_ftp(mlsd=good + line + "\r\n")

    async def listing() -> object:
        async with Downloader() as dl:
            return await dl.list_directory(server.base + "/")

    with pytest.raises(ProtocolError) as caught:
        asyncio.run(listing())
    message = str(caught.value)
    assert "MLSD line" in message and line[-8:] in message and "\n" not in message
    assert len(message) < 300  # the line is cut short, not the 5,000 digits


def test_list_line_with_a_size_of_two_to_the_63_fails_the_listing(
    crafted_ftp: Callable[..., Server],
) -> None:
    text = (
        f"-rw-r--r-- 1 0 0 7 Nov 23 00:00 seven.bin\r\n-rw-r--r-- 1 0 0 {2**63} Nov 23 00:00 x\r\n"
    )
    server = crafted_ftp(listing=text, mlst=False)  # no MLSD: LIST it is

    async def listing() -> object:
        async with Downloader() as dl:
            return await dl.list_directory(server.base + "/")

    with pytest.raises(ProtocolError, match="LIST line"):
        asyncio.run(listing())


def test_an_answer_that_is_not_http_is_a_protocol_error(
    http_server: Server, tmp_path: Path
) -> None:
    # Two Content-Length headers that differ: libcurl's "weird server reply",
    # which the exception tree must not call an FTP refusal.
    done = cli("-d", str(tmp_path), http_server.url("one.bin", two_lengths=1))
    assert done.returncode == 1
    assert_one_line_error(done.stderr, "not valid HTTP")
    assert "FTP" not in done.stderr and list(tmp_path.iterdir()) == []
