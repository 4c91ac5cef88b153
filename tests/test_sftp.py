"""SFTP against OpenSSH's sshd on 127.0.0.1 (tests/servers/sshd_run.py), with
a temporary host key: single, split, resumed, listed; unknown and changed
host keys refused. Every output's sha256 is checked."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import curlmulti_dl
from curlmulti_dl import Downloader, DownloadResult
from curlmulti_dl.files.journal import decode

from .conftest import SERVERS, DataFiles

MiB = 1 << 20


@dataclass
class Sshd:
    process: subprocess.Popen[bytes]
    port: int
    keys: Path  # client, client.pub, known_hosts, host.pub

    def url(self, path: Path | str) -> str:
        return f"sftp://127.0.0.1:{self.port}{Path(path).resolve()}"

    def read_since(self, mark: int, path: Path) -> int:
        """Bytes the SFTP server read of ``path`` in the sessions closed since
        log offset ``mark`` (its INFO lines: close "PATH" bytes read N ...)."""
        log = self._log()[mark:]
        wanted = f'close "{Path(path).resolve()}" bytes read '
        return sum(int(line.split(wanted)[1].split()[0]) for line in log.splitlines()
                   if wanted in line)  # fmt: skip

    def mark(self) -> int:
        return len(self._log())

    def _log(self) -> str:
        path = self.keys / "sftp.log"
        return path.read_text() if path.exists() else ""

    def options(self, **more: object) -> dict[str, object]:
        known, key = str(self.keys / "known_hosts"), str(self.keys / "client")
        return {"ssh_known_hosts": known, "ssh_key": key, **more}


def _keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    if not os.path.exists("/usr/lib/openssh/sftp-server") or shutil.which("ssh-keygen") is None:
        pytest.skip("OpenSSH's sshd is not installed (tests/setup.sh installs it as root)")
    if os.geteuid() != 0:
        pytest.skip("sshd logs in only its own user when not root; these tests log in as root")
    keys = tmp_path_factory.mktemp("sshd")
    _keygen(keys / "host")
    _keygen(keys / "client")
    shutil.copy(keys / "client.pub", keys / "authorized_keys")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, str(SERVERS / "sshd_run.py"), "--dir", str(keys), "--port", str(port)],
        stdout=subprocess.PIPE,
    )
    assert process.stdout is not None
    line = process.stdout.readline().decode()
    if not line.startswith("PORT"):
        process.kill()
        pytest.fail(f"sshd did not start: {line!r} {(keys / 'sshd.log').read_text()[-500:]}")
    kind, key = (keys / "host.pub").read_text().split()[:2]
    (keys / "known_hosts").write_text(f"[127.0.0.1]:{port} {kind} {key}\n")
    yield Sshd(process, port, keys)
    process.terminate()  # our own child, by its PID; it stops sshd by its PID
    process.wait(10)


def test_a_small_file_in_one_session(sshd: Sshd, data: DataFiles, tmp_path: Path, arun) -> None:
    name = data.add("sftp/small.bin", 300_000)
    result = arun(curlmulti_dl.fetch(sshd.url(data.root / name), tmp_path, **sshd.options()))
    data.assert_same(name, result.path)
    assert result.connections == 1 and result.last_modified is not None
    source = data.root / name
    assert int(result.path.stat().st_mtime) == int(source.stat().st_mtime)


def test_a_split_file(sshd: Sshd, data: DataFiles, tmp_path: Path, arun) -> None:
    name = data.add("sftp/split.bin", 24 * MiB + 12345)
    options = sshd.options(parts=4, ftp_min_part_size=4 * MiB)
    result = arun(curlmulti_dl.fetch(sshd.url(data.root / name), tmp_path, **options))
    data.assert_same(name, result.path)
    assert result.ranges >= 4 and result.connections >= 2


def test_an_unknown_or_changed_host_key_is_refused(
    sshd: Sshd, data: DataFiles, tmp_path: Path, arun
) -> None:
    name = data.add("sftp/guarded.bin", 100_000)
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    _keygen(tmp_path / "other")
    kind, key = (tmp_path / "other.pub").read_text().split()[:2]
    changed = tmp_path / "changed_known_hosts"
    changed.write_text(f"[127.0.0.1]:{sshd.port} {kind} {key}\n")
    out = tmp_path / "out"
    out.mkdir()
    for known in (empty, changed, tmp_path / "missing_known_hosts"):
        options = sshd.options(ssh_known_hosts=str(known))
        with pytest.raises(curlmulti_dl.HostKeyError, match="host key"):
            arun(curlmulti_dl.fetch(sshd.url(data.root / name), out, **options))
        assert list(out.iterdir()) == []


def test_a_missing_file_and_a_denied_login(
    sshd: Sshd, data: DataFiles, tmp_path: Path, arun
) -> None:
    with pytest.raises(curlmulti_dl.SFTPError, match="no such file"):
        arun(curlmulti_dl.fetch(sshd.url(data.root / "sftp/none.bin"), tmp_path, **sshd.options()))
    _keygen(tmp_path / "stranger")
    name = data.add("sftp/denied.bin", 1000)
    options = sshd.options(ssh_key=str(tmp_path / "stranger"))
    with pytest.raises(curlmulti_dl.SFTPError):
        arun(curlmulti_dl.fetch(sshd.url(data.root / name), tmp_path, **options))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stranger", "stranger.pub"]


def test_a_stopped_download_resumes_from_its_journal(
    sshd: Sshd, data: DataFiles, tmp_path: Path, arun
) -> None:
    name = data.add("sftp/resumed.bin", 16 * MiB)
    url = sshd.url(data.root / name)
    options = sshd.options(parts=2, ftp_min_part_size=4 * MiB, max_time=1.5)

    async def slowly() -> None:
        async with Downloader(max_bytes_per_second=4 * MiB) as dl:
            await dl.fetch(url, tmp_path, **options)

    with pytest.raises(curlmulti_dl.DownloadError):
        arun(slowly())
    state = decode((tmp_path / f"{Path(name).name}.part.journal").read_bytes())
    assert state is not None and 0 < state.done < 16 * MiB
    mark = sshd.mark()
    again = arun(
        curlmulti_dl.fetch(url, tmp_path, **sshd.options(parts=2, ftp_min_part_size=4 * MiB))
    )
    data.assert_same(name, again.path)
    time.sleep(0.5)  # the server logs a session's end after ours
    # The missing bytes, and what a session reads ahead past a range's end.
    read = sshd.read_since(mark, data.root / name)
    assert 0 < read <= 16 * MiB - state.done + 2 * MiB, (read, state.done)
    assert sorted(p.name for p in tmp_path.iterdir()) == [Path(name).name]


def test_a_glob_over_sftp_and_the_command(
    sshd: Sshd, data: DataFiles, tmp_path: Path, arun
) -> None:
    names = [data.add(f"sftp/hour/HS_B{band:02d}_S01.DAT", 50_000 + band) for band in (3, 7, 13)]
    data.add("sftp/hour/README.txt", 10)

    async def run() -> list[DownloadResult]:
        async with Downloader(**sshd.options()) as dl:  # type: ignore[arg-type]
            glob = sshd.url(data.root / "sftp/hour") + "/HS_*.DAT"
            async with dl.fetch_many([glob], tmp_path) as batch:
                return [r async for r in batch]

    results = arun(run())
    assert [r.error for r in results if not r.ok] == []
    assert sorted(r.path.name for r in results if r.ok) == sorted(Path(n).name for n in names)
    for name in names:
        data.assert_same(name, tmp_path / Path(name).name)
    out = tmp_path / "cli"
    out.mkdir()
    big = data.add("sftp/cli.bin", 9 * MiB)
    done = subprocess.run(
        [sys.executable, "-m", "curlmulti_dl", "-q", "-n", "3", "--min-part-size", "2M",
         "--ssh-known-hosts", str(sshd.keys / "known_hosts"), "--ssh-key",
         str(sshd.keys / "client"), "-d", str(out), sshd.url(data.root / big)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    data.assert_same(big, out / "cli.bin")
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    refused = subprocess.run(
        [sys.executable, "-m", "curlmulti_dl", "-d", str(out), "--ssh-key",
         str(sshd.keys / "client"), "--ssh-known-hosts", str(empty), sshd.url(data.root / big)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert refused.returncode == 1 and "host key" in refused.stderr
    assert "Traceback" not in refused.stderr and len(refused.stderr.splitlines()) == 1
