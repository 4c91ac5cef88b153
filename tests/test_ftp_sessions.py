"""FTP round trips, counted at the server: logins, probes, CWDs per file."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import curlmulti_dl

from .conftest import DataFiles, FtpLog, LoggedFtp, start_server, stop_server

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
    # One MLST for size and date, by path: no MDTM, no SIZE, no CWD.
    assert names.count("MLST") == 1 and names.index("MLST") < names.index("RETR")
    assert not {"MDTM", "SIZE", "CWD"} & set(names), names
    assert dict(commands)["MLST"] == dict(commands)["RETR"] == NESTED
    assert result.last_modified is not None
    source = data.root / NESTED
    assert int(result.path.stat().st_mtime) == int(source.stat().st_mtime)


def test_existing_copy_is_checked_by_size_and_date(
    ftp_logged: LoggedFtp, data: DataFiles, tmp_path: Path
) -> None:
    name = data.add(NESTED, 300_000)
    fetch(ftp_logged.server.url(name), tmp_path)
    mark = ftp_logged.log.mark()
    again = fetch(ftp_logged.server.url(name), tmp_path)
    assert again.skipped
    data.assert_same(name, again.path)
    (commands,) = ftp_logged.log.sessions(mark).values()
    names = [cmd for cmd, _ in commands]
    # A copy to compare wants the date as MDTM gives it, before any byte.
    assert "MDTM" in names and "SIZE" in names and "MLST" not in names, names


@pytest.mark.parametrize(
    "method, cwds", [("auto", 0), ("singlecwd", 1), ("nocwd", 0), ("multicwd", 2)]
)
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


@pytest.fixture(scope="module")
def old_ftp(data: DataFiles, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoggedFtp]:
    """A server of an older dialect: no MLST, no paths, the size in RETR's reply."""
    path = tmp_path_factory.mktemp("oldftp") / "commands.log"
    flags = ["--no-mlst", "--no-paths", "--announce-size"]
    server = start_server(
        "ftpd.py", "--root", str(data.root), *flags, "--log", str(path), scheme="ftp"
    )
    yield LoggedFtp(server, FtpLog(path))
    stop_server(server)


@pytest.fixture(scope="module")
def no_mlst_ftp(data: DataFiles, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoggedFtp]:
    """As vsftpd answers: no MLST, the size in RETR's reply, paths taken."""
    path = tmp_path_factory.mktemp("nomlst") / "commands.log"
    args = ["--root", str(data.root), "--no-mlst", "--announce-size", "--log", str(path)]
    server = start_server("ftpd.py", *args, scheme="ftp")
    yield LoggedFtp(server, FtpLog(path))
    stop_server(server)


def test_server_without_mlst_or_paths_gets_cwd_size_and_mdtm(
    old_ftp: LoggedFtp, data: DataFiles, tmp_path: Path
) -> None:
    names = [data.add(f"old/dialect/f{n}.bin", 50_000 + n) for n in range(4)]
    mark = old_ftp.log.mark()

    async def run() -> list[curlmulti_dl.DownloadResult]:
        async with curlmulti_dl.Downloader(max_host_connections=1) as dl:
            return [await dl.fetch(old_ftp.server.url(n), tmp_path) for n in names]

    results = asyncio.run(run())
    for name, result in zip(names, results, strict=True):
        data.assert_same(name, result.path)
    commands = [c for cmds in old_ftp.log.sessions(mark).values() for c in cmds]
    asked = [(cmd, arg) for cmd, arg in commands if cmd in ("MLST", "SIZE", "RETR")]
    # The first file: MLST by path refused, then RETR by path refused: asked
    # again after a CWD, with SIZE (and MDTM). The host remembered both:
    # every later file by name, with SIZE and MDTM.
    assert asked == [
        ("MLST", names[0]), ("RETR", names[0]), ("SIZE", "f0.bin"), ("RETR", "f0.bin"),
        ("SIZE", "f1.bin"), ("RETR", "f1.bin"), ("SIZE", "f2.bin"), ("RETR", "f2.bin"),
        ("SIZE", "f3.bin"), ("RETR", "f3.bin"),
    ], asked  # fmt: skip
    for name, result in zip(names, results, strict=True):
        assert result.last_modified is not None, name
        assert int(result.path.stat().st_mtime) == int((data.root / name).stat().st_mtime)


def test_split_file_on_a_server_without_mlst(
    old_ftp: LoggedFtp, data: DataFiles, tmp_path: Path
) -> None:
    name = data.add("old/split/big.bin", 6 * 2**20 + 7)
    result = fetch(old_ftp.server.url(name), tmp_path, parts=3, ftp_min_part_size=2**20)
    data.assert_same(name, result.path)
    assert result.connections == 3
    assert int(result.path.stat().st_mtime) == int((data.root / name).stat().st_mtime)


def test_missing_file_on_a_server_that_takes_paths_fails_cleanly(
    ftp_logged: LoggedFtp, tmp_path: Path
) -> None:
    with pytest.raises(curlmulti_dl.DownloadError) as caught:
        fetch(ftp_logged.server.url("no/such/file.bin"), tmp_path)
    assert "file.bin" in caught.value.url
    assert not os.listdir(tmp_path)


@pytest.mark.parametrize("method, cwds", [("singlecwd", 1), ("auto", 0)])
def test_cli_ftp_method(
    ftp_logged: LoggedFtp, data: DataFiles, tmp_path: Path, method: str, cwds: int
) -> None:
    name = data.add(NESTED, 300_000)
    mark = ftp_logged.log.mark()
    url = ftp_logged.server.url(name)
    args = [sys.executable, "-m", "curlmulti_dl", "-q", "--ftp-method", method, "-d", str(tmp_path)]
    done = subprocess.run([*args, url], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    data.assert_same(name, tmp_path / "nested.bin")
    (commands,) = ftp_logged.log.sessions(mark).values()
    assert [cmd for cmd, _ in commands].count("CWD") == cwds, commands


def test_files_given_together_on_a_server_without_mlst_get_their_dates(
    no_mlst_ftp: LoggedFtp, data: DataFiles, tmp_path: Path
) -> None:
    names = [data.add(f"nomlst/wave/w{n}.bin", 40_000 + n) for n in range(6)]

    async def run() -> list[curlmulti_dl.DownloadResult]:
        async with curlmulti_dl.Downloader(max_host_connections=6) as dl:
            return list(
                await asyncio.gather(
                    *(dl.fetch(no_mlst_ftp.server.url(n), tmp_path) for n in names)
                )
            )

    mark = no_mlst_ftp.log.mark()
    for name, result in zip(names, asyncio.run(run()), strict=True):
        data.assert_same(name, result.path)
        assert int(result.path.stat().st_mtime) == int((data.root / name).stat().st_mtime)
    commands = [cmd for cmds in no_mlst_ftp.log.sessions(mark).values() for cmd, _ in cmds]
    # All six asked MLST at once and were refused: their sizes came with
    # RETR's reply, their dates from one query each after the bytes (MDTM,
    # SIZE and REST 0 without a body); no file was asked twice.
    assert commands.count("MLST") == commands.count("MDTM") == 6, commands
    assert commands.count("RETR") == 6
    # Run again: each copy is recognised by size and date, and skipped.
    again = asyncio.run(run())
    assert all(r.skipped for r in again), [r.notice for r in again]


@pytest.mark.parametrize("method", ["singlecwd", "multicwd", "auto"])
def test_encoded_slash_names_the_same_file_to_mlst_and_retr(
    ftp_logged: LoggedFtp, data: DataFiles, tmp_path: Path, method: str
) -> None:
    wanted = data.add("top/sub/c.bin", 500_000)
    data.add("top/sub/sub/c.bin", 1000)  # what a split-then-decode MLST would name
    url = ftp_logged.server.url("top/sub%2Fc.bin")
    result = fetch(url, tmp_path, ftp_file_method=method)
    data.assert_same(wanted, result.path)


def test_a_listed_size_short_of_the_file_fails_loudly(data: DataFiles, tmp_path: Path) -> None:
    name = data.add("lying/size.bin", 200_000)
    args = ["--root", str(data.root), "--mlst-short", "10"]
    server = start_server("ftpd.py", *args, scheme="ftp")
    try:
        with pytest.raises(curlmulti_dl.RemoteFileChangedError, match="more than"):
            fetch(server.url(name), tmp_path / "out", retry=curlmulti_dl.RetryPolicy(attempts=0))
    finally:
        stop_server(server)
    assert not (tmp_path / "out" / "size.bin").exists()


def test_no_mlst_and_no_size_in_the_retr_reply(data: DataFiles, tmp_path: Path) -> None:
    """A refused MLST and a RETR reply without "(N bytes)": the transfer is
    stopped and the file asked again with MDTM and SIZE, so it can split."""
    name = data.add("bare/big.bin", 6 * 2**20 + 1)
    log = tmp_path / "commands.log"
    server = start_server(
        "ftpd.py", "--root", str(data.root), "--no-mlst", "--log", str(log), scheme="ftp"
    )
    try:
        result = fetch(server.url(name), tmp_path / "out", parts=3, ftp_min_part_size=2**20)
    finally:
        stop_server(server)
    data.assert_same(name, result.path)
    assert result.connections == 3
    assert int(result.path.stat().st_mtime) == int((data.root / name).stat().st_mtime)
    commands = [cmd for cmds in FtpLog(log).sessions(0).values() for cmd, _ in cmds]
    assert commands.count("MLST") == 1 and commands.count("MDTM") >= 1


def test_a_listed_size_the_retr_reply_contradicts_is_asked_again(
    data: DataFiles, tmp_path: Path
) -> None:
    """proftpd lists a symbolic link itself and sends the file it points to:
    the plan made from the listed size is dropped, ranges and all."""
    name = data.add("linked/target.bin", 6 * 2**20 + 5)
    log = tmp_path / "commands.log"
    args = ["--root", str(data.root), "--mlst-short", "10", "--announce-size", "--log", str(log)]
    server = start_server("ftpd.py", *args, scheme="ftp")
    try:
        result = fetch(server.url(name), tmp_path / "out", parts=3, ftp_min_part_size=2**20)
    finally:
        stop_server(server)
    data.assert_same(name, result.path)
    assert int(result.path.stat().st_mtime) == int((data.root / name).stat().st_mtime)
    commands = [cmd for cmds in FtpLog(log).sessions(0).values() for cmd, _ in cmds]
    assert commands.count("MLST") == 1 and "MDTM" in commands


def test_a_top_level_file_does_not_vouch_for_paths(
    old_ftp: LoggedFtp, data: DataFiles, tmp_path: Path
) -> None:
    """RETR top.bin names no directory: a later RETR dir/file refused on the
    same host still gets its CWD."""
    top, nested = data.add("top-level.bin", 20_000), data.add("deeper/nested2.bin", 30_000)

    async def run() -> list[curlmulti_dl.DownloadResult]:
        async with curlmulti_dl.Downloader(max_host_connections=1) as dl:
            return [await dl.fetch(old_ftp.server.url(n), tmp_path) for n in (top, nested)]

    for name, result in zip((top, nested), asyncio.run(run()), strict=True):
        data.assert_same(name, result.path)


def test_a_large_file_without_mlst_is_asked_with_mdtm_from_the_start(
    no_mlst_ftp: LoggedFtp, data: DataFiles, tmp_path: Path
) -> None:
    """Large enough to be split or resumed: its date must be in the journal
    from the start, so the refused MLST sends it back to MDTM and SIZE."""
    name = data.add("nomlst/large.bin", 3 * 2**20)
    mark = no_mlst_ftp.log.mark()
    result = fetch(no_mlst_ftp.server.url(name), tmp_path, parts=1, ftp_min_part_size=2**20)
    data.assert_same(name, result.path)
    commands = [cmd for cmds in no_mlst_ftp.log.sessions(mark).values() for cmd, _ in cmds]
    retr = len(commands) - commands[::-1].index("RETR") - 1
    assert "MDTM" in commands[:retr] and commands.count("MLST") == 1, commands
    assert int(result.path.stat().st_mtime) == int((data.root / name).stat().st_mtime)


def test_our_copy_of_a_socket_is_closed_at_once(
    ftp_logged: LoggedFtp, data: DataFiles, tmp_path: Path
) -> None:
    """pycurl duplicates the socket we open for libcurl; ours must not keep
    the connection alive after libcurl closes it (proftpd waits for the data
    connection to close before its 226, and libcurl waits for that blocking)."""
    name = data.add(NESTED, 300_000)

    async def run() -> tuple[Path, int]:
        async with curlmulti_dl.Downloader() as dl:
            result = await dl.fetch(ftp_logged.server.url(name), tmp_path)
            await asyncio.sleep(0)
            return result.path, len(dl.sockets._handed_over)

    path, still_ours = asyncio.run(run())
    data.assert_same(name, path)
    assert still_ours == 0


def test_a_date_asked_after_the_bytes_is_the_files_own(
    no_mlst_ftp: LoggedFtp, data: DataFiles, tmp_path: Path
) -> None:
    """Same names in two directories, one cached session left in the other
    directory: the date query must reach the file as RETR did."""
    deep, top = data.add("samename/d1/same.bin", 10_000), data.add("samename/same.bin", 3 * 2**20)
    os.utime(data.root / deep, (1_600_000_000, 1_600_000_000))
    os.utime(data.root / top, (1_700_000_000, 1_700_000_000))

    async def run(out: Path) -> list[curlmulti_dl.DownloadResult]:
        for i in (0, 1):
            (out / str(i)).mkdir(parents=True)
        async with curlmulti_dl.Downloader(max_host_connections=2) as dl:
            fetches = (
                dl.fetch(no_mlst_ftp.server.url(n), out / str(i), ftp_file_method="singlecwd")
                for i, n in enumerate((deep, top))
            )
            return list(await asyncio.gather(*fetches))

    for attempt in range(4):  # which cached session a query takes varies
        for name, result in zip(
            (deep, top), asyncio.run(run(tmp_path / str(attempt))), strict=True
        ):
            data.assert_same(name, result.path)
            want = int((data.root / name).stat().st_mtime)
            assert int(result.path.stat().st_mtime) == want, (attempt, name)


def test_cli_names_a_type_i_url_after_the_file_and_says_when_nothing_was_done(
    ftp_logged: LoggedFtp, data: DataFiles, tmp_path: Path
) -> None:
    name = data.add(NESTED, 300_000)
    url = ftp_logged.server.url(name) + ";type=i"
    args = [sys.executable, "-m", "curlmulti_dl", "-d", str(tmp_path), url]
    first = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert first.returncode == 0, first.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nested.bin"]
    data.assert_same(name, tmp_path / "nested.bin")
    again = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0, again.stderr
    assert "nothing to do" in again.stderr and "saved" not in again.stderr, again.stderr
