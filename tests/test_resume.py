"""Resume across runs: kill -9, Ctrl+C, a changed remote file, a damaged
journal, two runs at once. Real transfers; sha256 on every output; the bytes
a second run costs are counted at the server."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import time
import urllib.request
from pathlib import Path

import pytest

import curlmulti_dl
import curlmulti_dl.files.resume
from curlmulti_dl.files.journal import decode

from .conftest import FILES, DataFiles, Server, assert_left_resumable, start_far
from .test_cli import assert_one_line_error, cli
from .test_cli_safety import start_cli, wait_for


def served(server: Server, name: str) -> int:
    """Body bytes the HTTP test server has sent for ``name`` so far."""
    with urllib.request.urlopen(f"{server.base}/_stats") as response:
        log = json.load(response)["log"]
    return sum(r["sent"] for r in log if r["target"].split("?")[0] == f"/{name}")


def killed_mid_way(url: str, tmp_path: Path, *extra: str) -> Path:
    """Start the CLI, let it journal, then SIGKILL it. Returns the journal."""
    process = start_cli("-q", "-n", "4", *extra, "-o", "out.bin", url, cwd=tmp_path)
    journal = tmp_path / "out.bin.part.journal"
    wait_for(journal)
    time.sleep(0.3)
    process.kill()  # our own child, by its PID: no chance to clean up
    process.wait()
    assert not (tmp_path / "out.bin").exists()
    return journal


def test_kill_9_then_the_same_command_fetches_only_what_is_missing(
    http_server: Server, data: DataFiles, tmp_path: Path
) -> None:
    name = data.add("resume/kill.bin", 24 << 20)
    url = http_server.url(name, rate=2_000_000)
    journal = killed_mid_way(url, tmp_path)
    # Every byte the journal claims is the source's.
    assert_left_resumable(tmp_path, "out.bin", data.root / name)
    state = decode(journal.read_bytes())
    assert state is not None and 0 < state.done < 24 << 20
    missing = (24 << 20) - state.done
    before = served(http_server, name)
    again = cli("-q", "-n", "4", "-o", str(tmp_path / "out.bin"), url)
    assert again.returncode == 0, again.stderr
    data.assert_same(name, tmp_path / "out.bin")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]
    # The missing bytes, and at most the bytes in flight where a range ends.
    assert served(http_server, name) - before <= missing + (1 << 20)


def test_ftp_resume_goes_on_from_the_journal(
    ftp_server: Server, data: DataFiles, tmp_path: Path
) -> None:
    far = start_far(ftp_server, 0.002, 2_000_000)
    try:
        journal = killed_mid_way(far.url("huge.bin"), tmp_path, "--min-part-size", "1M")
        assert_left_resumable(tmp_path, "out.bin", data.root / "huge.bin")
        state = decode(journal.read_bytes())
        assert state is not None and state.done > 0
        down_before = far.stats()["bytes_down"]
        again = cli("-q", "-n", "4", "-o", str(tmp_path / "out.bin"), far.url("huge.bin"))
        assert again.returncode == 0, again.stderr
        # The missing bytes, and what a server sends past an FTP range's end
        # before its session closes.
        fetched = far.stats()["bytes_down"] - down_before
        assert fetched <= FILES["huge.bin"] - state.done + (4 << 20), fetched
    finally:
        far.process.kill()
        far.process.wait()
    data.assert_same("huge.bin", tmp_path / "out.bin")


def test_changed_remote_file_is_downloaded_again(
    http_server: Server, data: DataFiles, tmp_path: Path
) -> None:
    name = data.add("changes.bin", 24 << 20)
    url = http_server.url(name, rate=4_000_000)
    killed_mid_way(url, tmp_path)
    # Same size, new content, new validators.
    source = data.root / name
    new = os.urandom(24 << 20)
    source.write_bytes(new)
    later = time.time() + 5
    os.utime(source, (later, later))
    result = asyncio.run(curlmulti_dl.fetch(url, tmp_path / "out.bin", parts=4))
    assert (
        hashlib.sha256((tmp_path / "out.bin").read_bytes()).digest() == hashlib.sha256(new).digest()
    )
    assert result.notice is not None and "changed" in result.notice
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]


@pytest.mark.parametrize("damage", ["truncated", "zeroed", "garbage", "foreign url"])
def test_damaged_journal_is_ignored(
    http_server: Server, data: DataFiles, tmp_path: Path, damage: str
) -> None:
    name = data.add(f"resume/damaged-{damage.replace(' ', '-')}.bin", 24 << 20)
    url = http_server.url(name, rate=4_000_000)
    journal = killed_mid_way(url, tmp_path)
    raw = journal.read_bytes()
    damaged = {
        "truncated": raw[: len(raw) // 2],
        "zeroed": bytes(len(raw)),
        "garbage": os.urandom(len(raw)),
        "foreign url": raw.replace(b"resume/", b"other/"),
    }[damage]
    journal.write_bytes(damaged)
    # Poison what the old run left: only a journal we trust may vouch for it.
    part = tmp_path / "out.bin.part"
    with part.open("r+b") as handle:
        handle.write(b"\xff" * 4096)
    before = served(http_server, name)
    result = asyncio.run(curlmulti_dl.fetch(url, part.with_suffix("")))
    data.assert_same(name, result.path)
    assert served(http_server, name) - before >= 24 << 20  # from scratch


def test_a_second_run_while_the_first_runs_is_refused(
    http_server: Server, data: DataFiles, tmp_path: Path
) -> None:
    url = http_server.url("huge.bin", rate=2_000_000)
    first = start_cli("-q", "-n", "4", "-o", "out.bin", url, cwd=tmp_path)
    try:
        wait_for(tmp_path / "out.bin.part")
        second = cli("-q", "-o", str(tmp_path / "out.bin"), url)
        assert second.returncode == 1
        assert_one_line_error(second.stderr, "another download")
    finally:
        first.send_signal(signal.SIGINT)
        first.wait()
    assert_left_resumable(tmp_path, "out.bin", data.root / "huge.bin")
    third = cli("-q", "-o", str(tmp_path / "out.bin"), url)
    assert third.returncode == 0, third.stderr
    data.assert_same("huge.bin", tmp_path / "out.bin")


def test_journal_is_written_only_after_the_data_is_synced(
    http_server: Server, data: DataFiles, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[str] = []
    real_sync, real_rename = os.fdatasync, os.rename

    def fdatasync(fd: int) -> None:
        events.append("sync")
        real_sync(fd)

    def rename(src: object, dst: object) -> None:
        events.append(f"rename {dst}")
        real_rename(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "fdatasync", fdatasync)
    monkeypatch.setattr(os, "rename", rename)
    monkeypatch.setattr(curlmulti_dl.files.resume, "JOURNAL_SECONDS", 0.1)
    url = http_server.url("huge.bin", rate=8_000_000)
    result = asyncio.run(curlmulti_dl.fetch(url, tmp_path, parts=4))
    data.assert_same("huge.bin", result.path)
    journal_renames = [i for i, e in enumerate(events) if e.endswith(".journal")]
    assert len(journal_renames) >= 3, events
    previous = -1
    for index in journal_renames:
        assert "sync" in events[previous + 1 : index], events  # data first, then journal
        previous = index
    assert not list(tmp_path.glob("*.journal*"))  # gone with the commit
