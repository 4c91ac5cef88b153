"""Shared fixtures: generated data files and real servers on 127.0.0.1.

Servers run as subprocesses (so that they do not share our GIL or event loop)
and exit on their own when this process dies.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

SERVERS = Path(__file__).parent / "servers"
T = TypeVar("T")

# name -> size; sizes chosen to hit edge cases: empty, one byte, not a multiple
# of the part count, smaller than the part count, several MiB.
FILES = {
    "empty.bin": 0,
    "one.bin": 1,
    "seven.bin": 7,
    "odd.bin": 1_000_003,
    "big.bin": 8 * 1024 * 1024 + 13,
    "huge.bin": 48 * 1024 * 1024 + 5,
}


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class DataFiles:
    root: Path
    digests: dict[str, str]

    def assert_same(self, name: str, downloaded: Path) -> None:
        assert downloaded.exists(), f"{downloaded} missing"
        assert sha256_file(downloaded) == self.digests[name], f"{downloaded} differs from {name}"

    def add(self, name: str, size: int) -> str:
        """Serve one more file of ``size`` random bytes (for odd names)."""
        if name not in self.digests:
            (self.root / name).parent.mkdir(parents=True, exist_ok=True)
            _write_random(self.root / name, size)
            self.digests[name] = sha256_file(self.root / name)
        return name


def _write_random(path: Path, size: int) -> None:
    with open(path, "wb") as f:
        remaining = size
        while remaining:
            block = os.urandom(min(remaining, 1 << 20))
            f.write(block)
            remaining -= len(block)


@pytest.fixture(scope="session")
def data(tmp_path_factory: pytest.TempPathFactory) -> DataFiles:
    root = tmp_path_factory.mktemp("served")
    digests = {}
    for name, size in FILES.items():
        _write_random(root / name, size)
        digests[name] = sha256_file(root / name)
    return DataFiles(root, digests)


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base: str

    def url(self, name: str, **query: Any) -> str:
        q = "&".join(f"{k}={v}" for k, v in query.items())
        return f"{self.base}/{name}" + (f"?{q}" if q else "")


def start_server(script: str, *args: str, scheme: str) -> Server:
    process = subprocess.Popen(
        [sys.executable, str(SERVERS / script), *args, "--lifetime", "1200"],
        stdout=subprocess.PIPE,
    )
    assert process.stdout is not None
    line = process.stdout.readline().decode()
    if not line.startswith("PORT "):
        process.kill()
        raise RuntimeError(f"{script} did not start: {line!r}")
    return Server(process, f"{scheme}://127.0.0.1:{int(line.split()[1])}")


def stop_server(server: Server) -> None:
    server.process.terminate()  # by its own PID, which we started
    try:
        server.process.wait(5)
    except subprocess.TimeoutExpired:
        server.process.kill()


def server_stats(server: Server) -> dict[str, int]:
    """The test HTTP server's counters (``GET /_stats``), without its log."""
    found = json.load(urllib.request.urlopen(f"{server.base}/_stats"))
    return {k: v for k, v in found.items() if k != "log"}


@pytest.fixture
def own_http(data: DataFiles) -> Iterator[Server]:
    """An HTTP server of the test's own: its counters see only this test."""
    server = start_server("httpd.py", "--root", str(data.root), scheme="http")
    yield server
    stop_server(server)


@pytest.fixture(scope="session")
def http_server(data: DataFiles) -> Iterator[Server]:
    server = start_server("httpd.py", "--root", str(data.root), scheme="http")
    yield server
    stop_server(server)


@pytest.fixture(scope="session")
def ftp_server(data: DataFiles) -> Iterator[Server]:
    server = start_server("ftpd.py", "--root", str(data.root), scheme="ftp")
    yield server
    stop_server(server)


class FtpLog:
    """The commands the logging FTP server received, per session."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _lines(self) -> list[str]:
        return self.path.read_text().splitlines() if self.path.exists() else []

    def mark(self) -> int:
        return len(self._lines())

    def sessions(self, since: int) -> dict[int, list[tuple[str, str]]]:
        """Session number -> its commands, for the lines after ``since``."""
        found: dict[int, list[tuple[str, str]]] = {}
        for line in self._lines()[since:]:
            session, cmd, *arg = line.split(" ", 2)
            found.setdefault(int(session), []).append((cmd, arg[0] if arg else ""))
        return found

    def logins(self, since: int) -> int:
        return sum(1 for cmds in self.sessions(since).values() for cmd, _ in cmds if cmd == "USER")


@dataclass
class LoggedFtp:
    server: Server
    log: FtpLog


@pytest.fixture(scope="session")
def ftp_logged(data: DataFiles, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoggedFtp]:
    path = tmp_path_factory.mktemp("ftplog") / "commands.log"
    server = start_server("ftpd.py", "--root", str(data.root), "--log", str(path), scheme="ftp")
    yield LoggedFtp(server, FtpLog(path))
    stop_server(server)


@dataclass
class FarServer:
    """A server behind tests/servers/farproxy.py (distance, pacing, counting)."""

    process: subprocess.Popen[bytes]
    base: str
    stats_port: int

    def url(self, name: str) -> str:
        return f"{self.base}/{name}"

    def stats(self) -> dict[str, Any]:
        import json
        import socket

        with socket.create_connection(("127.0.0.1", self.stats_port)) as sock:
            return json.loads(sock.makefile("rb").read())  # type: ignore[no-any-return]


def start_far(server: Server, delay: float, rate: int = 0, *extra: str) -> FarServer:
    """``server`` behind the far-server emulator (``extra``: more of its flags,
    such as ``--cut-mean``)."""
    scheme, target = server.base.split("://")
    args = ["--target", target, "--delay", str(delay), "--rate", str(rate), "--lifetime", "1200"]
    args += extra
    if scheme == "ftp":
        args.append("--ftp")
    process = subprocess.Popen(
        [sys.executable, str(SERVERS / "farproxy.py"), *args],
        stdout=subprocess.PIPE,
    )
    assert process.stdout is not None
    port = int(process.stdout.readline().split()[1])
    stats_port = int(process.stdout.readline().split()[1])
    return FarServer(process, f"{scheme}://127.0.0.1:{port}", stats_port)


def _runner(kind: str) -> Callable[[Awaitable[T]], T]:
    def run(coro: Awaitable[T]) -> T:
        if kind == "uvloop":
            import uvloop

            return uvloop.run(coro)  # type: ignore[no-any-return]
        if kind == "trio":
            import trio

            async def main() -> T:
                return await coro

            return trio.run(main)
        return asyncio.run(coro)  # type: ignore[arg-type]

    return run


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # Tests marked "core" run under asyncio and uvloop; "trio", under trio too.
    if "loop_kind" in metafunc.fixturenames:
        kinds = ["asyncio"]
        if metafunc.definition.get_closest_marker("core"):
            kinds.append("uvloop")
        if metafunc.definition.get_closest_marker("trio"):
            kinds.append("trio")
        metafunc.parametrize("loop_kind", kinds)


@pytest.fixture
def arun(loop_kind: str) -> Callable[[Awaitable[T]], T]:
    return _runner(loop_kind)


def assert_left_resumable(directory: Path, name: str, source: Path | None = None) -> None:
    """After a stop: no ``name`` (nor anything else), only nothing at all or
    ``name.part`` with the journal that vouches for it, whose every durable
    span holds the source's bytes."""
    from curlmulti_dl.files.journal import decode

    left = {p.name for p in directory.iterdir()}
    assert left in (set(), {f"{name}.part", f"{name}.part.journal"}), left
    if not left:
        return
    state = decode((directory / f"{name}.part.journal").read_bytes())
    assert state is not None and state.durable, "the journal is unreadable or empty"
    if source is not None:
        part, original = (directory / f"{name}.part").read_bytes(), source.read_bytes()
        assert state.size == len(original)
        for span in state.durable:
            assert part[span.start : span.end] == original[span.start : span.end], span


@pytest.fixture
def crafted_ftp(
    data: DataFiles, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., Server]]:
    """Starts FTP servers that answer as the test says (tests/servers/craftedftp.py),
    serving ``data.root``: ``crafted_ftp(mlsd=..., listing=..., nlst=...)`` with
    the text (str, or bytes as they are) of every MLSD, LIST or NLST reply;
    ``size="N"`` for SIZE's answer and MLST's size fact; ``mlst=False`` for a
    server without MLST and MLSD. All stop at the test's end."""
    started: list[Server] = []

    def start(
        *,
        mlsd: str | bytes | None = None,
        listing: str | bytes | None = None,
        nlst: str | bytes | None = None,
        size: str | None = None,
        mlst: bool = True,
    ) -> Server:
        where = tmp_path_factory.mktemp("crafted")
        args = ["--root", str(data.root)]
        for flag, text in (("mlsd", mlsd), ("list", listing), ("nlst", nlst)):
            if text is not None:
                raw = text if isinstance(text, bytes) else text.encode("utf-8", "surrogateescape")
                (where / flag).write_bytes(raw)
                args += [f"--{flag}", str(where / flag)]
        if size is not None:
            args += ["--size", size]
        if not mlst:
            args.append("--no-mlst")
        started.append(start_server("craftedftp.py", *args, scheme="ftp"))
        return started[-1]

    yield start
    for server in started:
        stop_server(server)
