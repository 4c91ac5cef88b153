"""What the command line shows: rendered text on a terminal (pty) and in logs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .conftest import DataFiles, Server
from .test_cli import assert_one_line_error, cli, on_terminal

# ---------------------------------------------------------------- markup


def test_brackets_in_url_are_not_markup(http_server: Server, tmp_path: Path) -> None:
    status, text = on_terminal("-d", str(tmp_path), f"{http_server.base}/nope[/x]/f")
    assert status == 1, text
    assert "Traceback" not in text and "MarkupError" not in text
    assert "nope%5B/x%5D/f" in text and "404" in text  # the URL as it was requested
    # A message with brackets of its own (a path) is shown as it is.
    (tmp_path / "x[/y]").mkdir(parents=True)
    (tmp_path / "x[/y]" / "odd.bin").write_bytes(b"mine")
    status, text = on_terminal("-d", str(tmp_path / "x[/y]"), f"{http_server.base}/odd.bin")
    assert status == 1, text
    assert "x[/y]/odd.bin already exists" in text and "Traceback" not in text


def test_brackets_in_directory_and_name_are_shown_as_they_are(
    http_server: Server, data: DataFiles, tmp_path: Path
) -> None:
    directory = tmp_path / "a[/b]"
    directory.mkdir(parents=True)  # "a[" holding "b]"
    status, text = on_terminal("-d", str(directory), http_server.url("odd.bin"))
    assert status == 0, text
    assert "a[/b]" in text and "Traceback" not in text
    data.assert_same("odd.bin", directory / "odd.bin")
    status, text = on_terminal("-o", str(tmp_path / "a[b].bin"), http_server.url("odd.bin"))
    assert status == 0, text
    assert "a[b].bin" in text
    data.assert_same("odd.bin", tmp_path / "a[b].bin")


# ---------------------------------------------------------------- units, rows


def test_terminal_speed_is_in_binary_units(
    http_server: Server, data: DataFiles, tmp_path: Path
) -> None:
    url = http_server.url("huge.bin", rate=8_000_000)
    status, text = on_terminal("-n", "4", "-d", str(tmp_path), url)
    assert status == 0, text
    data.assert_same("huge.bin", tmp_path / "huge.bin")
    assert re.search(r"\d KiB/s|\d MiB/s", text), text
    assert not re.search(r"\d (kB|MB|GB)/s", text), text  # rich's decimal units
    assert re.search(r"\d connections\)", text), text


def test_failed_row_says_failed(http_server: Server, tmp_path: Path) -> None:
    status, text = on_terminal("-d", str(tmp_path), http_server.url("missing.bin"))
    assert status == 1
    rows = [line for line in re.split(r"[\r\n]+", text) if line.startswith("missing.bin")]
    assert rows and rows[-1].rstrip().endswith("failed"), rows  # not left looking like "waiting"


def test_narrow_terminal_keeps_the_numbers_visible(
    http_server: Server, data: DataFiles, tmp_path: Path
) -> None:
    long_name = "a-very-long-satellite-file-name-" * 4 + ".nc"
    url = http_server.url("huge.bin", rate=8_000_000)
    status, text = on_terminal("-n", "4", "-o", str(tmp_path / long_name), url, columns=70)
    assert status == 0, text
    data.assert_same("huge.bin", tmp_path / long_name)
    rows = [line for line in re.split(r"[\r\n]+", text) if " conn" in line and "/s" in line]
    assert rows, text
    assert "…" in rows[-1], rows  # the name was cut, not the numbers


def test_one_connection_is_singular(http_server: Server, data: DataFiles, tmp_path: Path) -> None:
    done = cli("-n", "1", "-d", str(tmp_path), http_server.url("odd.bin"))
    assert done.returncode == 0, done.stderr
    assert "1 connection)" in done.stderr and "1 connections" not in done.stderr
    data.assert_same("odd.bin", tmp_path / "odd.bin")


# ---------------------------------------------------------------- plain lines


def test_plain_lines_start_with_a_real_speed_and_end_with_the_summary(
    http_server: Server, data: DataFiles, tmp_path: Path
) -> None:
    url = http_server.url("huge.bin", rate=4_000_000)
    done = cli("-n", "4", "--progress-interval", "0.5", "-d", str(tmp_path), url)
    assert done.returncode == 0, done.stderr
    data.assert_same("huge.bin", tmp_path / "huge.bin")
    lines = done.stderr.splitlines()
    progress = [line for line in lines if "%" in line]
    assert len(progress) >= 2, done.stderr
    assert " 0 B/s" not in progress[0], progress[0]
    assert "100%" not in progress[-1]  # no "100%, 0 B/s, 0 connections" before the summary
    assert lines[-1].startswith("saved "), lines


# ---------------------------------------------------------------- fewer connections


@pytest.mark.parametrize(
    "query, words",
    [({"ignore_range": 1}, ["ignores byte ranges"]), ({}, ["min_part_size", "--min-part-size"])],
)
def test_fewer_connections_are_explained_once(
    http_server: Server, data: DataFiles, tmp_path: Path, query: dict[str, int], words: list[str]
) -> None:
    done = cli("-d", str(tmp_path), http_server.url("odd.bin", **query))
    assert done.returncode == 0, done.stderr
    data.assert_same("odd.bin", tmp_path / "odd.bin")
    notices = [line for line in done.stderr.splitlines() if "instead of 8" in line]
    assert len(notices) == 1, done.stderr
    assert notices[0].startswith("odd.bin: 1 connection instead of 8")
    for word in words:
        assert word in notices[0]


def test_min_part_size_flag(http_server: Server, data: DataFiles, tmp_path: Path) -> None:
    url = http_server.url("odd.bin", rate=1_000_000)  # slow enough for all 4 at once
    done = cli("-n", "4", "--min-part-size", "64K", "-d", str(tmp_path), url)
    assert done.returncode == 0, done.stderr
    data.assert_same("odd.bin", tmp_path / "odd.bin")
    assert "4 connections)" in done.stderr and "instead of" not in done.stderr


@pytest.mark.parametrize("value", ["0", "-1", "abc", "4X"])
def test_bad_min_part_size(value: str, tmp_path: Path) -> None:
    done = cli("--min-part-size", value, "http://127.0.0.1/x", cwd=tmp_path)
    assert done.returncode == 2
    assert_one_line_error(done.stderr, "--min-part-size")
