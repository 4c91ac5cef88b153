"""FTP round trips, counted at the server: logins, probes, CWDs per file."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import curlmulti_dl

from .conftest import DataFiles, LoggedFtp

NESTED = "deep/er/nested.bin"


def fetch(url: str, dest: Path, **options: object) -> curlmulti_dl.DownloadResult:
    return asyncio.run(curlmulti_dl.fetch(url, dest, **options))  # type: ignore[arg-type]


def test_small_file_costs_one_login_and_no_probe_session(
    ftp_logged: LoggedFtp, data: DataFiles, tmp_path: Path
) -> None:
    name = data.add(NESTED, 300_000)
    mark = ftp_logged.log.mark()
    result = fetch(ftp_logged.server.url(name), tmp_path, parts=8)
    data.assert_same(name, result.path)
    sessions = ftp_logged.log.sessions(mark)
    assert len(sessions) == 1, sessions  # size and date came with the transfer
    (commands,) = sessions.values()
    names = [cmd for cmd, _ in commands]
    assert names.count("USER") == 1 and names.count("RETR") == 1
    assert "MDTM" in names and "SIZE" in names
    assert names.index("MDTM") < names.index("RETR")
    assert result.last_modified is not None


@pytest.mark.parametrize("method, cwds", [("singlecwd", 1), ("nocwd", 0), ("multicwd", 2)])
def test_cwd_commands_per_file(
    ftp_logged: LoggedFtp, data: DataFiles, tmp_path: Path, method: str, cwds: int
) -> None:
    name = data.add(NESTED, 300_000)
    mark = ftp_logged.log.mark()
    result = fetch(ftp_logged.server.url(name), tmp_path, ftp_file_method=method)
    data.assert_same(name, result.path)
    (commands,) = ftp_logged.log.sessions(mark).values()
    assert [cmd for cmd, _ in commands].count("CWD") == cwds, commands


def test_split_file_opens_no_more_sessions_than_ranges(
    ftp_logged: LoggedFtp, data: DataFiles, tmp_path: Path
) -> None:
    mark = ftp_logged.log.mark()
    result = fetch(ftp_logged.server.url("huge.bin"), tmp_path, parts=4, ftp_min_part_size=1 << 20)
    data.assert_same("huge.bin", result.path)
    assert result.connections == 4
    # The first range was the probe; a range may reuse a finished range's session.
    assert 1 <= ftp_logged.log.logins(mark) <= result.ranges
