"""A NAME.part is ours, or it is left alone: a run killed before its first
journal leaves one the next run takes back, on a file system with extended
attributes (the mark) and on one without (ramfs: an empty journal marks it);
the user's own NAME.part is refused on both. Real downloads, sha256 checked."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import DataFiles, Server
from .test_cli import cli
from .test_cli_safety import start_cli, wait_for


@pytest.fixture(params=["ext4", "ramfs"])
def place(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path]:
    """A directory on this machine's disk, or on a ramfs (no user xattrs)."""
    if request.param == "ext4":
        yield tmp_path
        return
    mount = tmp_path / f"ram-{uuid.uuid4().hex[:8]}"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "ramfs", "ramfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a ramfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def test_a_run_killed_before_its_first_journal_is_taken_back(
    http_server: Server, data: DataFiles, place: Path
) -> None:
    name = data.add("ownership/slow.bin", 3_000_000)
    url = http_server.url(name, rate=1_000_000)
    first = start_cli("-q", "-n", "2", "-o", "out.bin", url, cwd=place)
    wait_for(place / "out.bin.part")
    # Bytes came: NAME.part was marked ours before its first request went out.
    # (A kill between its creation and its mark, a few system calls, leaves a
    # NAME.part the next run cannot tell from the user's: it is refused.)
    deadline = time.monotonic() + 20
    while (place / "out.bin.part").stat().st_size == 0:
        assert time.monotonic() < deadline, "no byte came"
        time.sleep(0.01)
    first.send_signal(signal.SIGKILL)  # no stop, no journal written by it
    first.wait()
    again = cli("-q", "-o", str(place / "out.bin"), http_server.url(name))
    assert again.returncode == 0, again.stderr
    data.assert_same(name, place / "out.bin")
    assert sorted(p.name for p in place.iterdir()) == ["out.bin"]  # no mark, no journal left
    assert "user.curlmulti_dl.part" not in _attributes(place / "out.bin")


def test_the_users_own_part_is_refused_on_any_file_system(http_server: Server, place: Path) -> None:
    (place / "odd.bin.part").write_bytes(b"mine")
    done = cli("-d", str(place), http_server.url("odd.bin"))
    assert done.returncode == 1
    assert "not made by curlmulti-dl" in done.stderr
    assert sorted(p.name for p in place.iterdir()) == ["odd.bin.part"]
    assert (place / "odd.bin.part").read_bytes() == b"mine"


def _attributes(path: Path) -> list[str]:
    try:
        return os.listxattr(path)
    except OSError:
        return []
