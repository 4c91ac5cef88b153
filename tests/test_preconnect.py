"""Connections opened before the requests that use them (_preconnect, _launch):
counted at the far-server emulator, every output checked by sha256."""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import curlmulti_dl
from curlmulti_dl.cli.early import EarlyConnection
from curlmulti_dl.cli.main import _hand_over
from curlmulti_dl.engine import preconnect as _preconnect
from curlmulti_dl.engine.preconnect import WarmSockets, until_connected
from curlmulti_dl.protocol.urls import parse_origin

from .conftest import DataFiles, FarServer, Server, start_far

_PROXY_VARIABLES = ("http_proxy", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")


@pytest.fixture
def far_http(http_server: Server) -> Iterator[FarServer]:
    far = start_far(http_server, 0.03, rate=8 * 1024 * 1024)
    yield far
    far.process.kill()  # our own child, by its PID
    far.process.wait()


def host_of(far: FarServer) -> str:
    return far.base.split("://")[1]


def test_ranges_start_on_the_connections_opened_ahead(
    far_http: FarServer, data: DataFiles, tmp_path: Path
) -> None:
    async def scenario() -> curlmulti_dl.DownloadResult:
        async with curlmulti_dl.Downloader() as dl:
            return await dl.fetch(far_http.url("huge.bin"), tmp_path, parts=4)

    result = asyncio.run(scenario())
    data.assert_same("huge.bin", result.path)
    assert result.connections == 4
    # One connection per range: the three opened while the first request was
    # out are the ones the ranges used (a fresh one each would make 7).
    stats = far_http.stats()
    assert stats["connections"] == 4 and stats["max_active"] == 4, stats


def test_unneeded_connections_opened_ahead_are_closed(
    far_http: FarServer, data: DataFiles, tmp_path: Path
) -> None:
    # 1 MB is one range (min_part_size 1 MiB): the seven connections opened
    # for ranges are closed unused, and nothing was sent on them.
    async def scenario() -> None:
        async with curlmulti_dl.Downloader() as dl:
            result = await dl.fetch(far_http.url("odd.bin"), tmp_path, parts=8)
            data.assert_same("odd.bin", result.path)
            assert dl.open_connections() == {host_of(far_http): 1}  # the kept one

    asyncio.run(scenario())
    stats = far_http.stats()
    assert stats["connections"] == 8, stats
    assert stats["bytes_up"] < 1000, stats  # one request's worth


def test_no_connection_is_opened_ahead_when_told_not_to(
    far_http: FarServer, data: DataFiles, tmp_path: Path
) -> None:
    result = asyncio.run(
        curlmulti_dl.fetch(far_http.url("odd.bin"), tmp_path, parts=8, preconnect=False)
    )
    data.assert_same("odd.bin", result.path)
    assert far_http.stats()["connections"] == 1


def test_connections_opened_ahead_stay_within_the_host_cap(
    far_http: FarServer, data: DataFiles, tmp_path: Path
) -> None:
    async def scenario() -> curlmulti_dl.DownloadResult:
        async with curlmulti_dl.Downloader(max_host_connections=3) as dl:
            return await dl.fetch(far_http.url("huge.bin"), tmp_path, parts=8)

    result = asyncio.run(scenario())
    data.assert_same("huge.bin", result.path)
    stats = far_http.stats()
    assert stats["max_active"] <= 3 and stats["connections"] == 3, stats


def test_files_given_together_open_nothing_ahead(
    far_http: FarServer, data: DataFiles, tmp_path: Path
) -> None:
    # Two 1 MB files, one range each: only their own two connections.
    names = [data.add(f"pair/{n}.bin", 1_000_000 + n) for n in range(2)]

    async def scenario() -> list[curlmulti_dl.DownloadResult]:
        async with curlmulti_dl.Downloader() as dl:
            fetches = (dl.fetch(far_http.url(n), tmp_path, parts=8) for n in names)
            return await asyncio.gather(*fetches)

    for name, result in zip(names, asyncio.run(scenario()), strict=True):
        data.assert_same(name, result.path)
    assert far_http.stats()["connections"] == 2


def test_connections_opened_ahead_stay_within_the_total_cap(
    far_http: FarServer, http_server: Server, data: DataFiles, tmp_path: Path
) -> None:
    # Two files alone on two hosts: the connections each opens ahead hold no
    # slot yet, so the other must not count the same free ones again.
    second = start_far(http_server, 0.03, rate=8 * 1024 * 1024)
    try:

        async def scenario() -> int:
            peak = 0
            async with curlmulti_dl.Downloader(max_connections=4) as dl:

                async def watch() -> None:
                    nonlocal peak
                    while True:
                        peak = max(peak, sum(dl.open_connections().values()))
                        await asyncio.sleep(0.005)

                watcher = asyncio.create_task(watch())
                fetches = [
                    dl.fetch(far.url("huge.bin"), tmp_path / str(n), parts=4)
                    for n, far in enumerate((far_http, second))
                ]
                for n, result in enumerate(await asyncio.gather(*fetches)):
                    data.assert_same("huge.bin", tmp_path / str(n) / "huge.bin")
                    assert result.path == tmp_path / str(n) / "huge.bin"
                watcher.cancel()
            return peak

        for n in range(2):
            (tmp_path / str(n)).mkdir()
        assert asyncio.run(scenario()) <= 4
        assert far_http.stats()["connections"] + second.stats()["connections"] <= 8
    finally:
        second.process.kill()  # our own child, by its PID
        second.process.wait()


@pytest.mark.parametrize("yields", [1, 2, 3])
def test_a_fetch_cancelled_at_once_leaves_no_connection_opened_ahead(
    far_http: FarServer, tmp_path: Path, yields: int
) -> None:
    async def scenario() -> int:
        async with curlmulti_dl.Downloader() as dl:
            task = asyncio.create_task(dl.fetch(far_http.url("huge.bin"), tmp_path, parts=8))
            for _ in range(yields):
                await asyncio.sleep(0)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await asyncio.sleep(0.1)  # anything scheduled meanwhile has run
            return dl.sockets.warm.count()

    assert asyncio.run(scenario()) == 0
    assert not (tmp_path / "huge.bin").exists()


def test_a_connection_handed_over_connected_is_not_connected_again(
    far_http: FarServer, data: DataFiles, tmp_path: Path
) -> None:
    # A socket whose connect() completed would answer libcurl's connect with
    # EISCONN: SOCKOPT_ALREADY_CONNECTED is what makes it usable.
    host, port = host_of(far_http).split(":")
    sock = socket.create_connection((host, int(port)))
    sock.setblocking(False)
    address = (socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_CLOEXEC, 6, sock.getpeername())

    async def scenario() -> curlmulti_dl.DownloadResult:
        async with curlmulti_dl.Downloader() as dl:
            dl.sockets.adopt(host_of(far_http), address, sock)
            return await dl.fetch(far_http.url("odd.bin"), tmp_path, parts=1)

    result = asyncio.run(scenario())
    data.assert_same("odd.bin", result.path)
    assert far_http.stats()["connections"] == 1  # the adopted one carried the request


def cli_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in _PROXY_VARIABLES}


@pytest.mark.parametrize("flag", [[], ["--no-preconnect"]])
def test_the_commands_first_request_takes_its_early_connection(
    far_http: FarServer, data: DataFiles, tmp_path: Path, flag: list[str]
) -> None:
    # The connection opened before the program loaded carries the first
    # request: one connection per range in all, not one more.
    url = far_http.url("huge.bin")
    done = subprocess.run(
        [sys.executable, "-m", "curlmulti_dl", "-q", "-n", "4", *flag, "-d", str(tmp_path), url],
        capture_output=True,
        text=True,
        timeout=120,
        env=cli_env(),
    )
    assert done.returncode == 0, done.stderr
    data.assert_same("huge.bin", tmp_path / "huge.bin")
    assert far_http.stats()["connections"] == 4


# ---------------------------------------------------------------- the command's early connection


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield sock


def url_of(sock: socket.socket, path: str = "/f.bin") -> str:
    return f"http://127.0.0.1:{sock.getsockname()[1]}{path}"


def test_the_command_connects_early_for_one_http_url(
    listener: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in _PROXY_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    early = EarlyConnection.for_arguments(["-n", "4", url_of(listener)])
    assert early is not None
    with early.sock:
        accepted, _ = listener.accept()
        accepted.close()
        assert early.address[3] == listener.getsockname()


@pytest.mark.parametrize(
    "argv",
    [
        ["--no-preconnect", "URL"],
        ["--no-pre", "URL"],  # argparse takes the abbreviation
        ["--help", "URL"],
        ["ftp://127.0.0.1/f.bin", "URL"],
        ["URL", "URL2"],
        ["ftp://127.0.0.1/f.bin"],
        ["http://" + "a" * 64 + ".example/f.bin"],  # refused before any DNS query
        ["http://127.0.0.1:99999/f.bin"],
        ["--version"],
    ],
)
def test_the_command_connects_early_only_when_sure(
    listener: socket.socket, monkeypatch: pytest.MonkeyPatch, argv: list[str]
) -> None:
    for variable in _PROXY_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    urls = {"URL": url_of(listener), "URL2": url_of(listener, "/g.bin")}
    assert EarlyConnection.for_arguments([urls.get(a, a) for a in argv]) is None


def test_no_early_connection_through_a_proxy(
    listener: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    assert EarlyConnection.for_arguments([url_of(listener)]) is None


# ---------------------------------------------------------------- WarmSockets


def address_of(sock: socket.socket) -> tuple[object, ...]:
    # As libcurl gives it to OPENSOCKETFUNCTION: the type carries SOCK_CLOEXEC.
    return (socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_CLOEXEC, 6, sock.getsockname())


def test_a_connected_socket_is_handed_over_once(listener: socket.socket) -> None:
    warm = WarmSockets()
    opened = warm.open("h", address_of(listener), 2)
    assert len(opened) == 2
    assert warm.open("h", address_of(listener), 2) == []  # one batch per host at a time
    accepted = [listener.accept()[0] for _ in opened]
    taken = warm.take("h", address_of(listener))
    assert taken is not None
    assert warm.was_connected(taken.fileno())
    assert not warm.was_connected(taken.fileno())  # asked once per socket
    warm.close()
    assert all(sock.fileno() == -1 for sock in opened if sock is not taken)
    for sock in [taken, *accepted]:
        sock.close()


def test_a_socket_the_server_closed_is_not_handed_over(listener: socket.socket) -> None:
    warm = WarmSockets()
    (opened,) = warm.open("h", address_of(listener), 1)
    accepted, _ = listener.accept()
    accepted.close()  # the server drops an idle connection
    asyncio.run(asyncio.sleep(0.05))
    assert warm.take("h", address_of(listener)) is None
    assert opened.fileno() == -1


def test_a_refused_connection_is_not_handed_over() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        address = address_of(probe)  # bound, never listening: refused
    warm = WarmSockets()
    opened = warm.open("h", address, 1)
    asyncio.run(asyncio.sleep(0.05))
    assert warm.take("h", address) is None
    assert all(sock.fileno() == -1 for sock in opened)


def test_another_address_drops_the_hosts_connections(listener: socket.socket) -> None:
    warm = WarmSockets()
    (opened,) = warm.open("h", address_of(listener), 1)
    other = (socket.AF_INET, socket.SOCK_STREAM, 6, ("127.0.0.2", 80))
    assert warm.take("h", other) is None
    assert opened.fileno() == -1
    assert len(warm.open("h", other, 1)) == 1  # room for the address libcurl chose
    warm.close()


def test_old_connections_are_not_handed_over(
    listener: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_preconnect, "_MAX_AGE", 0.0)
    warm = WarmSockets()
    opened = warm.open("h", address_of(listener), 2)
    asyncio.run(asyncio.sleep(0.01))
    assert warm.take("h", address_of(listener)) is None
    assert all(sock.fileno() == -1 for sock in opened)


def test_connections_no_file_waits_on_close_at_the_second_tick(listener: socket.socket) -> None:
    warm = WarmSockets()
    (opened,) = warm.open("h", address_of(listener), 1)
    warm.cool(needed={"h"})
    warm.cool(needed=set())
    assert opened.fileno() != -1  # one tick: a plan's ranges may not have opened yet
    warm.cool(needed=set())
    assert opened.fileno() == -1


def test_an_adopted_connection_goes_to_the_hosts_first_transfer(listener: socket.socket) -> None:
    sock = socket.socket()
    sock.setblocking(False)
    sock.connect_ex(listener.getsockname())

    async def connected() -> bool:
        return await until_connected(sock, 5)

    assert asyncio.run(connected())
    warm = WarmSockets()
    assert warm.adopt("h", address_of(listener), sock)
    assert warm.take("h", address_of(listener)) is sock
    sock.close()


@pytest.fixture
def unanswered() -> Iterator[tuple[str, int]]:
    """A loopback address where a connect waits unanswered: a listener whose
    accept queue is full drops every further SYN."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(0)
        fillers = [socket.create_connection(sock.getsockname())]
        yield sock.getsockname()
        for filler in fillers:
            filler.close()


def connecting_to(address: tuple[str, int]) -> socket.socket:
    sock = socket.socket()
    sock.setblocking(False)
    assert sock.connect_ex(address) == errno.EINPROGRESS
    return sock


def test_waiting_for_a_connection_gives_up_at_its_timeout(unanswered: tuple[str, int]) -> None:
    async def connected() -> bool:
        return await until_connected(sock, 0.2)

    with connecting_to(unanswered) as sock:
        assert not asyncio.run(connected())


def test_the_command_waits_for_its_early_connection_only_its_patience(
    unanswered: tuple[str, int],
) -> None:
    # A route that drops packets (a broken IPv6 path, say) must not hold the
    # first request for the whole connect timeout: libcurl connects on its own.
    sock = connecting_to(unanswered)
    address = (socket.AF_INET, socket.SOCK_STREAM, 6, unanswered)
    early = EarlyConnection(f"http://{unanswered[0]}:{unanswered[1]}/f", address, sock, 0.3)

    async def hand_over() -> float:
        async with curlmulti_dl.Downloader() as dl:
            started = time.monotonic()
            await _hand_over(early, dl, timeout=30.0)
            assert not dl.sockets.warm.take(parse_origin(early.url).host_key, address)
            return time.monotonic() - started

    assert asyncio.run(hand_over()) < 5.0
    assert sock.fileno() == -1  # dropped, not left open


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_patience_is_libcurls_head_start_when_the_name_has_two_families(
    listener: socket.socket, monkeypatch: pytest.MonkeyPatch, host: str
) -> None:
    for variable in _PROXY_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    port = listener.getsockname()[1]
    early = EarlyConnection.for_arguments([f"http://{host}:{port}/f.bin"])
    assert early is not None
    early.sock.close()
    families = {entry[0] for entry in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)}
    assert early.patience == (0.2 if len(families) > 1 else 1.0)


# ---------------------------------------------------------------- the package loads lazily


def test_importing_the_package_loads_no_engine() -> None:
    code = (
        "import sys, curlmulti_dl; "
        "print(sorted(m for m in sys.modules if m.startswith('curlmulti_dl.')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "['curlmulti_dl._version']"


def test_every_public_name_loads_on_first_use() -> None:
    for name in curlmulti_dl.__all__:
        assert getattr(curlmulti_dl, name) is not None
    assert set(curlmulti_dl.__all__) <= set(dir(curlmulti_dl))
    assert curlmulti_dl.Downloader.__module__ == "curlmulti_dl._downloader"
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        curlmulti_dl.nothing  # type: ignore[attr-defined]  # noqa: B018
