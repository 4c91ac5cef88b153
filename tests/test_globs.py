"""Globs and directory URLs: a listing (MLSD, else NLST; an HTTP index page)
over the host's budget, then every match fetched. Real servers on loopback,
every sha256 checked."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import curlmulti_dl
from curlmulti_dl import Downloader, DownloadResult
from curlmulti_dl.protocol.listing import (
    entry_url,
    parse_index_page,
    parse_list,
    parse_mlsd,
    parse_nlst,
    split_glob,
)

from .conftest import DataFiles, LoggedFtp, Server, start_far, start_server, stop_server

HOUR = "jma/hsd/202311/23/00"
BANDS = ("B03", "B07", "B13")


@pytest.fixture(scope="module")
def himawari(data: DataFiles) -> list[str]:
    """An hour of a P-Tree-like tree: 3 bands x 4 segments, and a sub-directory."""
    names = []
    for band in BANDS:
        for segment in range(1, 5):
            name = f"HS_H09_20231123_0000_{band}_FLDK_R20_S{segment:02d}10.DAT"
            names.append(data.add(f"{HOUR}/{name}", 20_000 + 5_000 * segment))
    names.append(data.add(f"{HOUR}/extra/HS_H09_20231123_0000_B13_EXTRA.DAT", 12_345))
    return names


@pytest.fixture(scope="module")
def old_ftp(data: DataFiles) -> Iterator[Server]:
    """A server without MLST and MLSD (as vsftpd): listings by LIST."""
    server = start_server("ftpd.py", "--root", str(data.root), "--no-mlst", scheme="ftp")
    yield server
    stop_server(server)


def fetch_all(base: Server, url: str, out: Path, arun, **kw: object) -> list[DownloadResult]:
    async def run() -> list[DownloadResult]:
        dl = Downloader(max_host_connections=4)
        async with dl, dl.fetch_many([url], out, **kw) as batch:  # type: ignore[arg-type]
            return [r async for r in batch]

    return arun(run())


@pytest.mark.parametrize("dialect", ["mlsd", "list"])
def test_a_glob_fetches_the_matching_files_of_its_directory(
    ftp_server: Server, old_ftp: Server, himawari: list[str], data: DataFiles,
    tmp_path: Path, arun, dialect: str,
) -> None:  # fmt: skip
    server = ftp_server if dialect == "mlsd" else old_ftp
    results = fetch_all(server, server.url(f"{HOUR}/*B13*"), tmp_path, arun)
    wanted = [n for n in himawari if "B13" in n and "/extra/" not in n]
    assert [r.error for r in results if not r.ok] == []
    assert sorted(r.path.name for r in results) == sorted(Path(n).name for n in wanted)
    for name in wanted:
        data.assert_same(name, tmp_path / Path(name).name)


def test_sizes_from_the_listing_put_the_largest_files_first(
    ftp_logged: LoggedFtp, himawari: list[str], data: DataFiles, tmp_path: Path, arun
) -> None:
    mark = ftp_logged.log.mark()
    url = ftp_logged.server.url(f"{HOUR}/*B03*")

    async def run() -> list[DownloadResult]:
        dl = Downloader(max_host_connections=1)  # one at a time: the order asked is the log's
        async with dl, dl.fetch_many([url], tmp_path) as batch:
            return [r async for r in batch]

    results = arun(run())
    assert len(results) == 4 and all(r.ok for r in results)
    lines = ftp_logged.log.path.read_text().splitlines()[mark:]
    asked = [line.split(" ", 2)[2].rpartition("/")[2] for line in lines if " RETR " in line]
    sizes = [(data.root / HOUR / name).stat().st_size for name in asked]
    assert len(asked) == 4 and sizes == sorted(sizes, reverse=True), asked
    for name in (n for n in himawari if "B03" in n):
        data.assert_same(name, tmp_path / Path(name).name)


def test_the_hosts_free_slots_log_in_while_the_listing_runs(
    ftp_logged: LoggedFtp, himawari: list[str], data: DataFiles, tmp_path: Path, arun
) -> None:
    # 40 ms round trips: the listing takes several of them, and sessions for
    # its files log in meanwhile (seen in the server's order of commands),
    # so the files find them ready; no more logins than the host's slots.
    far = start_far(ftp_logged.server, 0.02)
    try:
        mark = ftp_logged.log.mark()
        url = far.url(f"{HOUR}/*B07*")

        async def run() -> list[DownloadResult]:
            dl = Downloader(max_host_connections=4)
            async with dl, dl.fetch_many([url], tmp_path) as batch:
                return [r async for r in batch]

        results = arun(run())
    finally:
        far.process.kill()  # our own child, by its PID
        far.process.wait()
    assert len(results) == 4 and all(r.ok for r in results), results
    for name in (n for n in himawari if "B07" in n):
        data.assert_same(name, tmp_path / Path(name).name)
    lines = [line.split(" ", 2) for line in ftp_logged.log.path.read_text().splitlines()[mark:]]
    (lister,) = {int(session) for session, cmd, *_ in lines if cmd == "MLSD"}
    listed_at = next(n for n, (session, cmd, *_) in enumerate(lines) if cmd == "MLSD")
    early = {int(s) for s, cmd, *_ in lines[:listed_at] if cmd == "USER" and int(s) != lister}
    assert len(early) == 3, lines
    # MLSD names its directory: no CWD before it.
    assert [c for s, c, *_ in lines[:listed_at] if int(s) == lister and c == "CWD"] == []
    assert lines[listed_at][2] == HOUR
    assert ftp_logged.log.logins(mark) <= 4


def test_a_directory_url_and_a_recursive_walk(
    ftp_server: Server, himawari: list[str], data: DataFiles, tmp_path: Path, arun
) -> None:
    (tmp_path / "flat").mkdir()
    (tmp_path / "deep").mkdir()
    flat = fetch_all(ftp_server, ftp_server.url(f"{HOUR}/"), tmp_path / "flat", arun)
    assert len(flat) == 12 and all(r.ok for r in flat)
    deep = fetch_all(ftp_server, ftp_server.url(f"{HOUR}/"), tmp_path / "deep", arun, depth=2)
    assert len(deep) == 13
    for name in himawari:
        data.assert_same(name, tmp_path / "deep" / Path(name).relative_to(HOUR))


def test_a_glob_that_matches_nothing_is_a_failed_result(
    ftp_server: Server, himawari: list[str], tmp_path: Path, arun
) -> None:
    results = fetch_all(ftp_server, ftp_server.url(f"{HOUR}/*B99*"), tmp_path, arun)
    assert len(results) == 1 and isinstance(results[0].error, curlmulti_dl.ServerError)
    assert "matches '*B99*'" in str(results[0].error)


def test_the_command_fetches_a_glob_and_globoff_takes_it_literally(
    ftp_server: Server, himawari: list[str], data: DataFiles, tmp_path: Path
) -> None:
    url = ftp_server.url(f"{HOUR}/*B07*")
    run = [sys.executable, "-m", "curlmulti_dl", "-q", "-d", str(tmp_path)]
    done = subprocess.run([*run, url], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    for name in (n for n in himawari if "B07" in n):
        data.assert_same(name, tmp_path / Path(name).name)
    literal = subprocess.run([*run, "--globoff", url], capture_output=True, text=True, timeout=60)
    assert literal.returncode == 1 and "Traceback" not in literal.stderr
    directory = subprocess.run(
        [*run, ftp_server.url(f"{HOUR}/")], capture_output=True, text=True, timeout=60
    )
    assert directory.returncode == 0, directory.stderr  # a directory URL is no usage error
    for name in (n for n in himawari if "/extra/" not in n):
        data.assert_same(name, tmp_path / Path(name).name)


# ---------------------------------------------------------------- the pure parts


def test_split_glob_reads_the_raw_url() -> None:
    glob = split_glob("ftp://h/jma/hsd/202311/23/00/*B1?_*")
    assert glob is not None
    assert (glob.directory, glob.pattern) == ("ftp://h/jma/hsd/202311/23/00/", "*B1?_*")
    assert split_glob("ftp://h/pub/file.nc") is None
    assert split_glob("https://h/data/?C=N;O=D") is None  # a query, not a glob
    assert split_glob("https://h/data/*.nc") is not None
    dir_glob = split_glob("https://h/data/")
    assert dir_glob is not None and dir_glob.pattern == "*"


def test_mlsd_nlst_and_index_pages() -> None:
    mlsd = (
        "type=cdir;modify=20231123000000; .\r\n"
        "type=file;size=42;modify=20231123001500; HS_B13.DAT\r\n"
        "type=dir;modify=20231123000000; extra\r\n"
    )
    entries = parse_mlsd(mlsd)
    assert [(e.name, e.kind, e.size) for e in entries] == [
        ("HS_B13.DAT", "file", 42),
        ("extra", "dir", None),
    ]
    assert entries[0].mtime == 1700698500
    assert [e.name for e in parse_nlst("a.dat\r\nsub/b.dat\r\n.\r\n")] == ["a.dat", "b.dat"]
    unix = (
        "total 8\r\n"
        "-rw-r--r--    1 0        0           30000 Dec 06 13:30 HS B03.DAT\r\n"
        "drwxr-xr-x    2 0        0            4096 Dec 06 13:30 extra\r\n"
        "lrwxrwxrwx    1 0        0               7 Dec 06 13:30 latest -> HS B03.DAT\r\n"
    )
    listed = parse_list(unix)
    assert listed is not None
    assert [(e.name, e.kind, e.size) for e in listed] == [
        ("HS B03.DAT", "file", 30000),
        ("extra", "dir", None),
        ("latest", "other", None),
    ]
    assert parse_list("12-06-26  01:30PM       <DIR>          extra\r\n") is None  # IIS: NLST
    page = (
        '<a href="../">../</a><a href="?C=M;O=A">Last</a>'
        '<a href="HS%20B13.DAT">HS B13.DAT</a><a href="sub/">sub/</a>'
        '<a href="/elsewhere/x">x</a><a href="http://other/y">y</a>'
    )
    found = parse_index_page(page, "http://h/data/")
    assert [(e.name, e.kind) for e in found] == [("HS B13.DAT", "file"), ("sub", "dir")]


@given(st.text(min_size=1).filter(lambda n: "/" not in n and n not in (".", "..")))
def test_a_listed_name_makes_a_url_whose_last_segment_is_that_name(name: str) -> None:
    from urllib.parse import unquote_to_bytes

    url = entry_url("ftp://h/dir/", name)
    assert url.startswith("ftp://h/dir/")
    tail = url[len("ftp://h/dir/") :]
    assert "/" not in tail and "?" not in tail and "#" not in tail
    assert unquote_to_bytes(tail) == name.encode("utf-8", "surrogateescape")
