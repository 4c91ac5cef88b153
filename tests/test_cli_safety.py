"""The command line with the user's files and signals: exit codes, one line,
nothing left behind that the message does not mention."""

from __future__ import annotations

import hashlib
import os
import pty
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import FILES, DataFiles, Server, assert_left_resumable
from .test_cli import assert_one_line_error, cli


def start_cli(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "curlmulti_dl", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(path: Path, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


@pytest.mark.parametrize(
    "signum, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)]
)
def test_stop_signals_clean_up_and_say_so(
    http_server: Server, data: DataFiles, tmp_path: Path, signum: int, status: int
) -> None:
    url = http_server.url("huge.bin", rate=1_000_000)
    process = start_cli("-q", "-n", "4", "-o", "out.bin", url, cwd=tmp_path)
    wait_for(tmp_path / "out.bin.part")
    time.sleep(0.3)
    process.send_signal(signum)  # our own child, by its PID
    _, err = process.communicate(timeout=20)
    assert process.returncode == status, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and signal.Signals(signum).name in lines[0], err
    assert "kept" in lines[0] and "to resume" in lines[0], err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin.part", "out.bin.part.journal"]
    # The same command again goes on from there.
    again = cli("-q", "-n", "4", "-o", str(tmp_path / "out.bin"), http_server.url("huge.bin"))
    assert again.returncode == 0, again.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]
    data.assert_same("huge.bin", tmp_path / "out.bin")


def test_stop_without_resume_keeps_nothing(http_server: Server, tmp_path: Path) -> None:
    url = http_server.url("huge.bin", rate=1_000_000)
    process = start_cli("-q", "--no-resume", "-o", "out.bin", url, cwd=tmp_path)
    wait_for(tmp_path / "out.bin.part")
    time.sleep(0.3)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=20)
    assert process.returncode == 130, err
    assert "no partial files left" in err
    assert list(tmp_path.iterdir()) == []


def test_two_quick_ctrl_c_print_one_line(http_server: Server, tmp_path: Path) -> None:
    url = http_server.url("huge.bin", rate=1_000_000)
    process = start_cli("-n", "4", "-d", str(tmp_path), url, cwd=tmp_path)
    wait_for(tmp_path / "huge.bin.part")
    process.send_signal(signal.SIGINT)
    time.sleep(0.01)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=20)
    assert process.returncode == 130, err
    assert "Traceback" not in err and err.count("stopped by") == 1, err
    # Stopped at once: nothing, or a part with the journal that vouches for it.
    left = {p.name for p in tmp_path.iterdir()}
    assert left in (set(), {"huge.bin.part", "huge.bin.part.journal"}), left


def test_output_dash_writes_standard_output(
    http_server: Server, data: DataFiles, tmp_path: Path
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "curlmulti_dl", "-q", "-o", "-", http_server.url("big.bin")],
        capture_output=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert hashlib.sha256(done.stdout).hexdigest() == data.digests["big.bin"]
    assert list(tmp_path.iterdir()) == []  # no file named "-"


def test_output_dash_refuses_a_terminal(http_server: Server, tmp_path: Path) -> None:
    leader, follower = pty.openpty()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "curlmulti_dl", "-o", "-", http_server.url("one.bin")],
            stdout=follower,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            cwd=tmp_path,
        )
    finally:
        os.close(follower)
        os.close(leader)
    assert done.returncode == 2
    assert_one_line_error(done.stderr, "terminal")


def test_device_node_is_written_not_replaced(http_server: Server, tmp_path: Path) -> None:
    node = tmp_path / "null"
    os.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    done = cli("-o", str(node), http_server.url("big.bin"))
    assert done.returncode == 0, done.stderr
    info = os.lstat(node)
    assert stat.S_ISCHR(info.st_mode) and info.st_rdev == os.makedev(1, 3)
    assert "1 connection instead of 8" in done.stderr  # said once, with the reason
    assert sorted(p.name for p in tmp_path.iterdir()) == ["null"]


def test_existing_file_needs_force(http_server: Server, data: DataFiles, tmp_path: Path) -> None:
    target = tmp_path / "odd.bin"
    target.write_bytes(b"mine")
    target.chmod(0o600)
    refused = cli("-d", str(tmp_path), http_server.url("odd.bin"))
    assert refused.returncode == 1
    assert_one_line_error(refused.stderr, "already exists", "--force")
    assert target.read_bytes() == b"mine"
    forced = cli("--force", "-d", str(tmp_path), http_server.url("odd.bin"))
    assert forced.returncode == 0, forced.stderr
    data.assert_same("odd.bin", target)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


@pytest.mark.parametrize(
    "args, words",
    [
        (["-o", "nodir/", "http://127.0.0.1/x"], ["nodir/", "does not exist"]),
        (["--progress-interval", "-1", "http://127.0.0.1/x"], ["--progress-interval"]),
        (["--connect-timeout", "nan", "http://127.0.0.1/x"], ["--connect-timeout"]),
        (["http://127.0.0.1/a\x01b"], ["control characters"]),
        # Taken literally (--globoff), a directory is no file; without it, it names its files.
        (["--globoff", "ftp://127.0.0.1/pub/"], ["directory"]),
    ],
)
def test_more_usage_errors(args: list[str], words: list[str], tmp_path: Path) -> None:
    done = cli(*args, cwd=tmp_path)
    assert done.returncode == 2
    assert_one_line_error(done.stderr, *words)
    assert list(tmp_path.iterdir()) == []


def test_help_lists_every_exit_status() -> None:
    helped = cli("--help")
    for status in ("130", "143", "129", "--force", "-o -"):
        assert status in helped.stdout, status


def test_non_ascii_url_on_the_command_line(
    http_server: Server, data: DataFiles, tmp_path: Path
) -> None:
    name = data.add("café.bin", FILES["one.bin"] + 99)
    done = cli("-q", "-d", str(tmp_path), f"{http_server.base}/{name}")
    assert done.returncode == 0, done.stderr
    data.assert_same(name, tmp_path / name)


def test_retries_carry_a_cut_download_through(
    http_server: Server, data: DataFiles, tmp_path: Path
) -> None:
    url = http_server.url("odd.bin", drop_after=300_000)
    done = cli("-q", "--retries", "20", "-n", "2", "--min-part-size", "1", "-d", str(tmp_path), url)
    assert done.returncode == 0, done.stderr
    data.assert_same("odd.bin", tmp_path / "odd.bin")
    (tmp_path / "again").mkdir()
    failed = cli("-d", str(tmp_path / "again"), "--retries", "0", url)
    assert failed.returncode == 1
    assert_left_resumable(tmp_path / "again", "odd.bin", data.root / "odd.bin")
    assert_one_line_error(failed.stderr, "odd.bin")
    assert cli("--retries", "-1", url).returncode == 2
