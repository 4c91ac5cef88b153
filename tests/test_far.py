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
    assert stats["sessions"] == stats["logins"] == result.ranges, stats
    assert stats["max_active_sessions"] <= 4
    assert stats["bytes_down"] >= FILES["huge.bin"]


def test_http_through_the_far_link(far_http: FarServer, data: DataFiles, tmp_path: Path) -> None:
    result = fetch(far_http.url("huge.bin"), tmp_path, parts=4)
    data.assert_same("huge.bin", result.path)
    stats = far_http.stats()
    assert stats["connections"] == result.ranges
    # Paced at 8 MiB/s per connection: four connections beat one by far.
    assert result.connections == 4
