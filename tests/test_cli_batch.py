"""The command on batches: ``-i`` lists (a file or standard input, aria2c's
form), ``--json`` lines, ``--skip-existing``, failures that never stop the
others. Real downloads from the loopback server, every sha256 checked."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from curlmulti_dl.cli.inputfile import InputFileError, read_input

from .conftest import DataFiles, Server, sha256_file
from .test_cli import cli, json_lines, on_terminal


def files(data: DataFiles, prefix: str, count: int, size: int) -> list[str]:
    return [data.add(f"{prefix}/{prefix}-{i:04d}.bin", size) for i in range(count)]


def test_a_list_of_500_files_with_json_lines(
    http_server: Server, data: DataFiles, tmp_path: Path
) -> None:
    names = files(data, "list500", 500, 4096)
    listing = tmp_path / "urls.txt"
    lines = ["# Himawari-style list", ""] + [http_server.url(n) for n in names]
    listing.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    out.mkdir()
    done = cli("-i", str(listing), "-d", str(out), "--json", "--max-host-connections", "8")
    assert done.returncode == 0, done.stderr[-2000:]
    records, summary = json_lines(done.stdout)
    assert summary["files"] == summary["downloaded"] == 500 and summary["failed"] == 0
    assert len(records) == 500 and all(r["ok"] and r["error"] is None for r in records)
    for name in names:
        data.assert_same(name, out / Path(name).name)


def test_standard_input_in_aria2c_form_with_failures_among_good_files(
    http_server: Server, data: DataFiles, tmp_path: Path
) -> None:
    good = files(data, "stdin-list", 4, 20_000)
    right = "sha-256=" + sha256_file(data.root / good[1])
    stdin = "\n".join(
        [
            http_server.url(good[0]),
            http_server.url(good[1]),
            "  out=second.bin",
            f"  checksum={right}",
            http_server.url("nothing-here.bin"),
            http_server.url(good[2]),
            "\tdir=sub/deeper",
            http_server.url(good[3]),
            "  checksum=sha-256=" + "0" * 64,
        ]
    )
    done = cli("-i", "-", "-d", str(tmp_path), "--json", "--retries", "0", stdin=stdin)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    records, summary = json_lines(done.stdout)
    assert (summary["downloaded"], summary["failed"]) == (3, 2), done.stdout
    errors = {r["url"]: r["error"] for r in records if not r["ok"]}
    assert errors[http_server.url("nothing-here.bin")]["status"] == 404
    assert errors[http_server.url(good[3])]["type"] == "ChecksumMismatchError"
    data.assert_same(good[0], tmp_path / Path(good[0]).name)
    data.assert_same(good[1], tmp_path / "second.bin")
    data.assert_same(good[2], tmp_path / "sub" / "deeper" / Path(good[2]).name)
    assert not (tmp_path / Path(good[3]).name).exists()
    assert sum("error" in line for line in done.stderr.splitlines()) == 2  # one line each


def test_skip_existing_and_a_rerun(http_server: Server, data: DataFiles, tmp_path: Path) -> None:
    names = files(data, "cli-rerun", 3, 10_000)
    urls = [http_server.url(n) for n in names]
    assert cli("-q", "-d", str(tmp_path), *urls).returncode == 0
    done = cli("-d", str(tmp_path), "--skip-existing", "--json", *urls)
    records, summary = json_lines(done.stdout)
    assert summary["skipped"] == 3
    assert all(r["skipped"] for r in records)
    for name in names:
        data.assert_same(name, tmp_path / Path(name).name)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("  out=a.bin\nhttp://h/x", "an option before any URL"),
        ("http://h/x\n  speed=9", "is not one of out=, dir=, checksum="),
        ("http://h/x\n  out=a\n  out=b", "out= given twice"),
    ],
)
def test_a_bad_list_line_is_named(text: str, why: str) -> None:
    with pytest.raises(InputFileError, match=why) as caught:
        list(read_input(text.splitlines(), "urls.txt"))
    assert "urls.txt line" in str(caught.value)


def test_a_bad_list_line_stops_the_command_with_one_line(tmp_path: Path) -> None:
    listing = tmp_path / "bad.txt"
    listing.write_text("  out=a.bin\n")
    done = cli("-i", str(listing), "-d", str(tmp_path))
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"curlmulti-dl: error: {listing} line 1: an option before any URL"
    ]


def test_list_items_with_mirrors_and_options() -> None:
    text = "http://a/x.nc\thttp://mirror/x.nc\n  dir=d\n  out=y.nc\n# note\nftp://b/z\n"
    requests = list(read_input(text.splitlines(), "-"))
    assert [r.url for r in requests] == ["http://a/x.nc", "ftp://b/z"]
    assert str(requests[0].dest) == "d/y.nc" and requests[1].dest is None


def test_a_batch_shows_batch_lines_not_a_line_per_file_per_interval(
    http_server: Server, data: DataFiles, tmp_path: Path
) -> None:
    names = files(data, "plain-batch", 6, 300_000)
    urls = [http_server.url(n, rate=200_000) for n in names]
    done = cli("-d", str(tmp_path), "--progress-interval", "0.3", "-n", "1", *urls)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert not [line for line in lines if "%" in line]  # no per-file progress lines
    assert any(line.startswith("batch: ") for line in lines), lines
    assert sum(line.startswith("saved ") for line in lines) == 6  # one per finished file
    assert lines[-1].startswith("6 files: 6 downloaded"), lines
    for name in names:
        data.assert_same(name, tmp_path / Path(name).name)


def test_a_batch_on_a_terminal_keeps_rows_for_files_in_flight_only(
    http_server: Server, data: DataFiles, tmp_path: Path
) -> None:
    names = files(data, "rich-batch", 5, 200_000)
    urls = [http_server.url(n, rate=400_000) for n in names]
    urls.append(http_server.url("nothing-here.bin"))
    status, text = on_terminal("-d", str(tmp_path), "-n", "1", "--retries", "0", *urls)
    assert status == 1
    assert "saved " not in text  # the batch row counts them; nothing scrolls by
    assert "5/6 done, 1 failed" in text
    rows = [line for line in re.split(r"[\r\n]+", text) if line.startswith("nothing-here.bin")]
    assert rows and rows[-1].rstrip().endswith("failed")  # failures keep their row
    for name in names:
        data.assert_same(name, tmp_path / Path(name).name)
