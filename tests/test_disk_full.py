"""A full disk, at the start and mid-download: a typed storage error, an
intact journal, no final file."""

from __future__ import annotations

import resource
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import curlmulti_dl

from .conftest import DataFiles, Server, assert_left_resumable
from .test_cli import assert_one_line_error, json_lines
from .test_cli_safety import start_cli, wait_for


def test_file_size_limit_mid_download(http_server: Server, data: DataFiles, tmp_path: Path) -> None:
    # Lower the running CLI's RLIMIT_FSIZE: its next write past 4 MiB fails
    # with EFBIG (Python ignores SIGXFSZ), as a write to a full disk would.
    name = data.add("full/mid.bin", 24 << 20)
    process = start_cli("-q", "-n", "4", "-o", "out.bin", http_server.url(name, rate=2_000_000),
                        cwd=tmp_path)  # fmt: skip
    wait_for(tmp_path / "out.bin.part.journal")
    limit = 4 << 20
    resource.prlimit(process.pid, resource.RLIMIT_FSIZE, (limit, limit))  # our child, by PID
    _, err = process.communicate(timeout=30)
    assert process.returncode == 1, err
    assert_one_line_error(err, "out.bin.part", "kept")  # and says it was kept
    assert "Traceback" not in err
    assert_left_resumable(tmp_path, "out.bin", data.root / name)


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / f"tiny-{uuid.uuid4().hex[:8]}"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        for _ in range(50):
            if subprocess.run(["umount", str(mount)], capture_output=True).returncode == 0:
                break
            time.sleep(0.1)


def test_disk_full_at_the_start(http_server: Server, tiny_disk: Path, arun) -> None:
    # 8 MiB do not fit on a 1 MiB file system: refused when space is reserved.
    with pytest.raises(curlmulti_dl.DiskFullError):
        arun(curlmulti_dl.fetch(http_server.url("big.bin"), tiny_disk))
    assert not (tiny_disk / "big.bin").exists()


def test_a_full_disk_fails_one_item_of_a_batch(
    http_server: Server, data: DataFiles, tiny_disk: Path
) -> None:
    out = tiny_disk / "made" / "here"  # -d is made when missing, on the small disk too
    done = subprocess.run(
        [sys.executable, "-m", "curlmulti_dl", "-d", str(out), "--json",
         http_server.url("seven.bin"), http_server.url("big.bin"), http_server.url("one.bin")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1
    assert_one_line_error(done.stderr, "big.bin")
    records, summary = json_lines(done.stdout)
    assert summary["failed"] == 1
    [failed] = [r for r in records if not r["ok"]]
    assert failed["error"]["type"] == "DiskFullError"
    data.assert_same("seven.bin", out / "seven.bin")
    data.assert_same("one.bin", out / "one.bin")
    assert not (out / "big.bin").exists()
