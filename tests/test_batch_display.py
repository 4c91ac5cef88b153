"""A batch says only what matters: no per-file notes unless -v, a total and
an ETA from the listing's sizes, rows that never wrap. The real command on a
pseudo-terminal of a given width against the test FTP and HTTP servers;
the rows' pure pieces with hypothesis."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.cells import cell_len

from curlmulti_dl._expected import ExpectedSizes
from curlmulti_dl._progress import DownloadResult
from curlmulti_dl.view import figures, rows

from .conftest import DataFiles, Server
from .test_cli import cli, on_terminal

SMALL, LARGE = 30, 2
LONG = "_extended-long-name" * 3


@pytest.fixture(scope="module")
def segments(data: DataFiles) -> list[str]:
    """30 small Himawari-like segments and 2 larger ones with long names."""
    names = []
    for i in range(1, SMALL + 1):
        name = f"display/HS_H09_20231123_0000_B13_FLDK_R20_S{i:02d}10.DAT"
        names.append(data.add(name, 40_000 + 1_000 * i))
    for i in range(1, LARGE + 1):
        name = f"display/HS_H09_20231123_0000_B13_FLDK_R20_S{i:02d}10{LONG}.DAT"
        names.append(data.add(name, 1_500_000 + i))
    return names


def total_of(data: DataFiles, names: list[str]) -> int:
    return sum((data.root / n).stat().st_size for n in names)


NUM = r"\d+(\.\d)?"
UNIT = r"(B|KiB|MiB)"
ETA = r"ETA ≥?(\d+( s|m\d\ds|h\d\dm)|>99h)"
FILE_ROW = re.compile(
    rf"^\S.*? +(━+ +)?{NUM}(/{NUM})? {UNIT} +{NUM} {UNIT}/s( +{ETA})?( +\d+ conn)?$"
)
STATE_ROW = re.compile(r"^\S.*? +(waiting|failed)$")
BATCH_ROW = re.compile(
    rf"^(batch )?\d+(/≥?\d+)? done(, \d+ failed)?(, \d+ in flight)?"
    rf"( +━+)? +{NUM}/≥?{NUM} {UNIT}( +{NUM} {UNIT}/s)?( +{ETA})?$"
)
SUMMARY = re.compile(r"^\d+ files: \d+ downloaded")


@pytest.mark.parametrize("columns", [60, 80, 120])
def test_a_glob_batch_on_a_terminal_fits_its_width_with_a_total_and_an_eta(
    ftp_server: Server, segments: list[str], data: DataFiles, tmp_path: Path, columns: int
) -> None:
    url = ftp_server.url("display/*B13*")
    status, text = on_terminal("-d", str(tmp_path), "--limit-rate", "3M", url, columns=columns)
    assert status == 0, text
    for name in segments:
        data.assert_same(name, tmp_path / Path(name).name)
    drawn = [line.rstrip() for line in re.split(r"[\r\n]+", text) if line.strip()]
    assert "instead of" not in text  # no per-file notes in a batch without -v
    # Every line is whole: a row of a file, of the batch, or the summary. A
    # row that wrapped would leave a piece ("KiB", "1 conn") on a line of its
    # own. Rows fit the width; the summary is a message, whole, the terminal's
    # to wrap (as an error's would be).
    for line in drawn:
        if SUMMARY.match(line):
            continue
        assert cell_len(line) <= columns, (columns, line)
        shapes = (FILE_ROW, STATE_ROW, BATCH_ROW)
        assert any(shape.match(line) for shape in shapes), (columns, line, drawn)
    files = [line for line in drawn if FILE_ROW.match(line)]
    assert any("…" in line and line.split()[0].endswith(".DAT") for line in files), files
    # The listing gave every size: the batch row has the total, and an ETA.
    total = f"/{total_of(data, segments) / 2**20:.1f} MiB"
    batch = [line for line in drawn if BATCH_ROW.match(line)]
    assert batch and all("≥" not in line for line in batch), batch
    assert any(total in line and "ETA" in line for line in batch), (total, batch)
    assert re.search(rf"\b{SMALL + LARGE}/{SMALL + LARGE} done", batch[-1]), batch


def test_notes_of_a_batchs_files_only_with_verbose(
    ftp_server: Server, segments: list[str], data: DataFiles, tmp_path: Path
) -> None:
    url = ftp_server.url("display/*B13*")
    quiet = cli("-d", str(tmp_path / "a"), "--limit-rate", "6M", "--progress-interval", "0.2", url)
    assert quiet.returncode == 0, quiet.stderr
    assert "instead of" not in quiet.stderr
    lines = quiet.stderr.splitlines()
    total = f"/{total_of(data, segments) / 2**20:.1f} MiB"
    batch = [line for line in lines if line.startswith("batch: ")]
    assert any(total in line and "ETA" in line for line in batch), batch
    assert all(f"/{SMALL + LARGE} files done" in line for line in batch), batch
    told = cli("-v", "-d", str(tmp_path / "b"), url)
    assert told.returncode == 0, told.stderr
    notes = [line for line in told.stderr.splitlines() if "instead of 8" in line]
    assert len(notes) == SMALL + LARGE, told.stderr  # one per file
    for name in segments:
        data.assert_same(name, tmp_path / "a" / Path(name).name)
        data.assert_same(name, tmp_path / "b" / Path(name).name)
    one = cli("-d", str(tmp_path / "c"), ftp_server.url(segments[0]))  # one file: as before
    assert one.returncode == 0, one.stderr
    notes = [line for line in one.stderr.splitlines() if "instead of 8" in line]
    assert len(notes) == 1 and "--min-part-size" in notes[0], one.stderr
    data.assert_same(segments[0], tmp_path / "c" / Path(segments[0]).name)


def test_failures_show_in_a_batch_without_verbose(
    ftp_server: Server, segments: list[str], data: DataFiles, tmp_path: Path
) -> None:
    urls = [ftp_server.url(segments[0]), ftp_server.url("display/missing.DAT")]
    done = cli("-d", str(tmp_path), *urls)
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if line.startswith("curlmulti-dl: error")]
    assert len(errors) == 1 and "missing.DAT" in errors[0], done.stderr
    assert "instead of" not in done.stderr and "Traceback" not in done.stderr
    data.assert_same(segments[0], tmp_path / Path(segments[0]).name)


def test_sizes_not_listed_make_a_lower_bound_until_known(
    http_server: Server, data: DataFiles, tmp_path: Path
) -> None:
    """An HTTP index page gives no sizes: the total is ``≥`` while files wait
    for their first answer, exact once every one has answered."""
    names = [data.add(f"display-http/part-{i:02d}.bin", 150_000 + i) for i in range(24)]
    links = "".join(f'<a href="{Path(n).name}">{Path(n).name}</a>\n' for n in names)
    (data.root / "display-http" / "index.html").write_text(f"<html><body>{links}</body></html>")
    url = http_server.url("display-http/")
    done = cli(
        "-d", str(tmp_path), "-n", "1", "--max-host-connections", "4",
        "--limit-rate", "1M", "--progress-interval", "0.3", url,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    for name in names:
        data.assert_same(name, tmp_path / Path(name).name)
    batch = [line for line in done.stderr.splitlines() if line.startswith("batch: ")]
    assert any("≥" in line for line in batch), batch  # 4 at a time: the rest unknown
    total = f"/{total_of(data, names) / 2**20:.1f} MiB"
    assert total in batch[-1] and "≥" not in batch[-1], batch


# ---------------------------------------------------------------- pure pieces


names = st.text(min_size=0, max_size=120)
sizes = st.integers(min_value=0, max_value=2**63)
speeds = st.none() | st.floats(min_value=0, max_value=1e13, allow_nan=False)
etas = st.none() | st.floats(min_value=0, max_value=1e9, allow_nan=False)


@given(name=names, done=sizes, total=st.none() | sizes, rate=speeds, eta=etas,
       conn=st.integers(0, 64), width=st.integers(1, 300))  # fmt: skip
def test_a_file_row_never_exceeds_its_width(
    name: str, done: int, total: int | None, rate: float | None, eta: float | None,
    conn: int, width: int,
) -> None:  # fmt: skip
    fields = rows.file_fields(done, total, rate, eta, conn)
    row = rows.fit_row(name, fields, width)
    assert cell_len(row.plain) <= width
    numbers = figures.bytes_pair(done, total)
    if width >= cell_len(numbers) + len(rows.GAP) + rows.NAME_MIN:
        assert numbers in row.fields  # the bytes stay whole; the name gives way
        shown = rows.masked(name)
        assert row.name.rstrip() == shown.rstrip() or "…" in row.name or not row.name.strip()


@given(done=st.integers(0, 10**6), failed=st.integers(0, 10**6), flight=st.integers(0, 999),
       moved=sizes, rate=speeds, listed=st.lists(st.none() | sizes, max_size=5),
       complete=st.booleans(), width=st.integers(1, 300))  # fmt: skip
def test_a_batch_row_never_exceeds_its_width(
    done: int, failed: int, flight: int, moved: int, rate: float | None,
    listed: list[int | None], complete: bool, width: int,
) -> None:  # fmt: skip
    expected = ExpectedSizes()
    expected.listed(listed)
    expected.complete = complete
    labels = rows.batch_labels(done, failed, flight, expected)
    row = rows.fit_row(labels[0], rows.batch_fields(moved, rate, expected), width, shorter=labels)
    assert cell_len(row.plain) <= width
    bound = "≥" in rows.batch_fields(moved, rate, expected)[0].text
    assert bound == (not expected.exact and figures.batch_total(moved, expected)[0] is not None)


@given(text=names, cells=st.integers(0, 200))
def test_cut_middle_keeps_both_ends(text: str, cells: int) -> None:
    cut = rows.cut_middle(text, cells)
    assert cell_len(cut) <= cells
    if cell_len(text) <= cells:
        assert cut == text
    elif cells >= 2:
        splits = [(cut[:i], cut[i + 1 :]) for i, c in enumerate(cut) if c == "…"]
        assert any(text.startswith(h) and text.endswith(t) for h, t in splits), cut


def test_rows_at_60_80_120_columns() -> None:
    name = f"HS_H09_20231123_0000_B13_FLDK_R20_S0110{LONG}.DAT"
    fields = rows.file_fields(335_000, 540_000, 1_200_000.0, 12.3, 8)
    for width in (60, 80, 120):
        row = rows.fit_row(name, fields, width).plain
        assert cell_len(row) == width
        assert "327.1/527.3 KiB" in row and "1.1 MiB/s" in row and "ETA 12 s" in row, row
        assert row.startswith("HS_H09_") and ".DAT " in row and "…" in row, row
    assert "8 conn" in rows.fit_row(name, fields, 80).plain
    assert "8 conn" not in rows.fit_row(name, fields, 60).plain  # it went first


def test_sizes_and_durations_read_as_people_write_them() -> None:
    assert figures.bytes_pair(327_000, 540_000) == "319.3/527.3 KiB"
    assert figures.bytes_pair(127 * 2**20, 480 * 2**20, bound=True) == "127.0/≥480.0 MiB"
    assert figures.bytes_pair(1536, None) == "1.5 KiB"
    assert [figures.duration(s) for s in (0.4, 59.4, 61, 3725)] == ["0 s", "59 s", "1m01s", "1h02m"]
    assert figures.duration(360_000) == figures.duration(float("inf")) == ">99h"
    assert rows.masked("a\x1b[31mb\x07") == "a?[31mb?"


# ---------------------------------------------------------------- what a batch expects

outcomes = st.sampled_from(["ok", "failed", "skipped"])
files = st.lists(
    st.tuples(st.booleans(), st.none() | sizes, st.none() | sizes, sizes, outcomes), max_size=30
)


def result(size: int, outcome: str) -> DownloadResult:
    from curlmulti_dl._exceptions import DownloadError

    error = DownloadError("no", url="ftp://h/f") if outcome == "failed" else None
    return DownloadResult(
        url="ftp://h/f", effective_url="ftp://h/f", path=Path("f"), size=size, elapsed=1.0,
        connections=1, ranges=1, splits=0, skipped=outcome == "skipped", error=error,
    )  # fmt: skip


@given(files=files)
def test_expected_sizes_end_as_the_bytes_moved(
    files: list[tuple[bool, int | None, int | None, int, str]],
) -> None:
    """Whatever the listings said, the first answers and the outcomes, once
    every file is over the total is exact: the sizes of the files moved."""
    expected = ExpectedSizes()
    listed = [(i, f) for i, f in enumerate(files) if f[0]]
    expected.listed(size for _, (_, size, *_) in listed)
    for i, (from_listing, size, _, _, _) in enumerate(files):
        if from_listing:
            expected.handed(f"u{i % 3}", size)  # one URL may be two items (a glob twice)
    expected.complete = True
    shares = [expected.start(f"u{i % 3}") for i in range(len(files))]
    for share, (_, _, answered, _, _) in zip(shares, files, strict=True):
        share.seen(answered)
        assert expected.unknown >= 0
    for share, (_, _, _, moved, outcome) in zip(shares, files, strict=True):
        share.ended(result(moved, outcome))
        share.ended(result(moved, outcome))  # (twice counts once)
    assert expected.files == len(files) and expected.exact
    assert expected.known == sum(f[3] for f in files if f[4] == "ok")


def test_a_file_size_is_learned_from_its_first_snapshot() -> None:
    from curlmulti_dl._progress import ProgressSnapshot

    expected = ExpectedSizes()
    expected.complete = True
    share = expected.start("ftp://h/a")
    assert (expected.files, expected.unknown, expected.exact) == (1, 1, False)
    seen: list[ProgressSnapshot] = []
    watch = share.watch(seen.append)
    assert watch is not None
    watch(ProgressSnapshot("ftp://h/a", 0, None, 0.0, 0, 0.0))
    assert expected.unknown == 1
    watch(ProgressSnapshot("ftp://h/a", 10, 500, 1.0, 1, 0.1))
    assert (expected.known, expected.unknown, expected.exact) == (500, 0, True)
    assert len(seen) == 2  # the display's callback still gets every snapshot
    listed = ExpectedSizes()
    listed.listed([7])
    listed.handed("ftp://h/b", 7)
    assert listed.start("ftp://h/b").watch(seen.append) == seen.append  # nothing to learn
