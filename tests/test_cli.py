"""The command line: exit codes, one-line errors, progress output."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path
from typing import Any

import pytest

from .conftest import DataFiles, Server


def cli(
    *args: str, cwd: Path | None = None, timeout: float = 60, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "curlmulti_dl", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        input=stdin,
    )


def json_lines(stdout: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """``--json`` output: each file's record, and the summary (the last line).
    Every line must be JSON."""
    records = [json.loads(line) for line in stdout.splitlines()]
    return records[:-1], records[-1]["summary"]


def assert_one_line_error(stderr: str, *words: str) -> None:
    assert "Traceback" not in stderr
    errors = [line for line in stderr.splitlines() if "error" in line]
    assert len(errors) == 1, stderr
    for word in words:
        assert word in errors[0], stderr


def test_download_ok(http_server: Server, data: DataFiles, tmp_path: Path) -> None:
    done = cli("-n", "4", "-d", str(tmp_path), http_server.url("big.bin"))
    assert done.returncode == 0, done.stderr
    data.assert_same("big.bin", tmp_path / "big.bin")
    assert "saved" in done.stderr and done.stdout == ""


def test_output_file_and_default_directory(
    http_server: Server, data: DataFiles, tmp_path: Path
) -> None:
    done = cli("-q", "-o", "renamed.bin", http_server.url("odd.bin"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    data.assert_same("odd.bin", tmp_path / "renamed.bin")
    done = cli("-q", http_server.url("one.bin"), cwd=tmp_path)
    assert done.returncode == 0
    data.assert_same("one.bin", tmp_path / "one.bin")


def test_several_urls_one_failing(http_server: Server, data: DataFiles, tmp_path: Path) -> None:
    done = cli("-d", str(tmp_path), http_server.url("odd.bin"), http_server.url("missing.bin"))
    assert done.returncode == 1
    assert_one_line_error(done.stderr, "404", "missing.bin")
    data.assert_same("odd.bin", tmp_path / "odd.bin")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["odd.bin"]


@pytest.mark.parametrize(
    "args, words",
    [
        (["-n", "0", "http://127.0.0.1/x"], ["--parts"]),
        (["gopher://127.0.0.1/x"], ["unsupported scheme"]),
        (["not-a-url"], ["no scheme"]),
        (["-d", "afile/dir", "http://127.0.0.1/x"], ["afile", "not a directory"]),
        (["-o", "a", "http://127.0.0.1/x", "http://127.0.0.1/y"], ["one URL"]),
        (["--cacert", "/nonexistent.pem", "https://127.0.0.1/x"], ["cacert"]),
    ],
)
def test_usage_errors(args: list[str], words: list[str], tmp_path: Path) -> None:
    (tmp_path / "afile").write_bytes(b"mine")
    done = cli(*args, cwd=tmp_path)
    assert done.returncode == 2
    assert_one_line_error(done.stderr, *words)
    assert [p.name for p in tmp_path.iterdir()] == ["afile"]


def test_unwritable_directory(http_server: Server) -> None:
    # /proc refuses new files even to root: a clean error either way.
    done = cli("-d", "/proc", http_server.url("one.bin"))
    assert done.returncode in (1, 2)
    assert_one_line_error(done.stderr, "/proc")


def test_missing_arguments_and_help() -> None:
    done = cli()
    assert done.returncode == 2 and "usage:" in done.stderr and "Traceback" not in done.stderr
    helped = cli("--help")
    assert helped.returncode == 0
    for word in ("--parts", "--output", "--dir", "--quiet", "examples", "Exit status"):
        assert word in helped.stdout


def test_plain_progress_lines_when_not_a_terminal(
    http_server: Server, data: DataFiles, tmp_path: Path
) -> None:
    url = http_server.url("huge.bin", rate=8_000_000)
    done = cli("-n", "4", "--progress-interval", "0.2", "-d", str(tmp_path), url)
    assert done.returncode == 0, done.stderr
    data.assert_same("huge.bin", tmp_path / "huge.bin")
    lines = [line for line in done.stderr.splitlines() if "%" in line]
    assert len(lines) >= 2, done.stderr
    assert "MiB/s" in lines[-1] and "connections" in lines[-1]
    assert "\x1b[" not in done.stderr  # no terminal escapes in logs


def on_terminal(*args: str, columns: int = 120, lines: int = 50) -> tuple[int, str]:
    """Run the CLI with stderr on a pty of ``columns`` x ``lines``; return its
    status and what it drew (escape sequences out)."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))
    env = {**os.environ, "COLUMNS": str(columns), "LINES": str(lines), "TERM": "xterm"}
    process = subprocess.Popen(
        [sys.executable, "-m", "curlmulti_dl", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=follower,
        env=env,
    )
    os.close(follower)
    output = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    status = process.wait(60)
    os.close(leader)
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", output.decode(errors="replace"))
    return status, text


def test_rich_display_on_a_terminal(http_server: Server, data: DataFiles, tmp_path: Path) -> None:
    url = http_server.url("huge.bin", rate=40_000_000)
    status, text = on_terminal("-n", "4", "-d", str(tmp_path), url)
    assert status == 0
    assert "conn" in text and "saved" in text and "MiB" in text
    data.assert_same("huge.bin", tmp_path / "huge.bin")
