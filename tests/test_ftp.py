"""Real FTP transfers against pyftpdlib; every file checked by sha256."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import curlmulti_dl
from curlmulti_dl import Downloader

from .conftest import FILES, DataFiles, Server

SMALL_PARTS = {"ftp_min_part_size": 1}


@pytest.mark.core
@pytest.mark.trio
@pytest.mark.parametrize("parts", [1, 4, 8, 16])
@pytest.mark.parametrize("name", sorted(FILES))
def test_parts_and_sizes(
    ftp_server: Server, data: DataFiles, tmp_path: Path, arun, parts: int, name: str
) -> None:
    result = arun(curlmulti_dl.fetch(ftp_server.url(name), tmp_path, parts=parts, **SMALL_PARTS))
    data.assert_same(name, result.path)
    assert result.size == FILES[name]
    # The first transfer is a range too (no probe session): one at least.
    assert result.ranges - result.splits - result.reconnects == max(1, min(parts, FILES[name]))
    assert result.last_modified  # MDTM, asked in the first transfer's session


def test_small_ftp_file_is_not_split(
    ftp_server: Server, data: DataFiles, tmp_path: Path, arun
) -> None:
    # Each FTP part costs a login: below ftp_min_part_size one connection is used.
    result = arun(curlmulti_dl.fetch(ftp_server.url("big.bin"), tmp_path, parts=8))
    data.assert_same("big.bin", result.path)
    assert result.ranges == 1


def test_missing_ftp_file(ftp_server: Server, tmp_path: Path, arun) -> None:
    with pytest.raises(curlmulti_dl.FTPError) as info:
        arun(curlmulti_dl.fetch(ftp_server.url("nope.bin"), tmp_path))
    assert info.value.curl_code == 78
    assert list(tmp_path.iterdir()) == []


def test_ftp_login_denied(ftp_server: Server, tmp_path: Path, arun) -> None:
    url = ftp_server.base.replace("ftp://", "ftp://user:wrong@") + "/big.bin"
    with pytest.raises(curlmulti_dl.FTPError) as info:
        arun(curlmulti_dl.fetch(url, tmp_path))
    assert info.value.curl_code == 67
    assert list(tmp_path.iterdir()) == []


def test_ftp_with_credentials(ftp_server: Server, data: DataFiles, tmp_path: Path, arun) -> None:
    url = ftp_server.base.replace("ftp://", "ftp://user:secret@") + "/huge.bin"
    result = arun(curlmulti_dl.fetch(url, tmp_path, parts=4, ftp_min_part_size=1024 * 1024))
    data.assert_same("huge.bin", result.path)
    assert result.ranges - result.splits == 4


def test_ftp_probe_prints_nothing(ftp_server: Server, data: DataFiles, tmp_path: Path) -> None:
    # The old tool leaked "Content-Length:" pseudo-headers to stdout on FTP probes.
    code = (
        "import curlmulti_dl, sys;"
        f"curlmulti_dl.download({ftp_server.url('odd.bin')!r}, {str(tmp_path)!r}, parts=4,"
        " ftp_min_part_size=1)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == b""
    data.assert_same("odd.bin", tmp_path / "odd.bin")


def test_ftp_budget_shared_with_slots(
    ftp_server: Server, data: DataFiles, tmp_path: Path, arun
) -> None:
    async def scenario() -> None:
        async with Downloader(max_host_connections=2) as dl:
            result = await dl.fetch(ftp_server.url("huge.bin"), tmp_path, parts=8, **SMALL_PARTS)
        data.assert_same("huge.bin", result.path)
        assert result.connections <= 2

    arun(scenario())
