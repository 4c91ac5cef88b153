"""A far server on loopback: a TCP proxy that adds distance and counts round trips.

Every chunk is delivered to the other side ``--delay`` seconds after it was
read (one way, both directions, order kept), and a new connection reaches the
server only after one round trip (the TCP handshake). Each connection is
paced at ``--rate`` bytes/s per direction. With ``--ftp`` the proxy reads the
control connection: it counts sessions, logins and commands, rewrites
``227``/``229`` passive replies so that data connections pass through it too
(with the same delay and rate), and holds a ``226`` until the data connection
it belongs to has delivered everything (as a real far link would).

With ``--cut-mean B --cuts N`` it also cuts connections: each of the first N
data connections (HTTP connections; FTP data connections) is closed after a
random number of bytes to the client (exponential, mean B, fixed by
``--seed``), after every byte before the cut was delivered, as a middlebox or
an overloaded server dropping a connection would.

Run as a script: it prints ``PORT <n>`` (the proxy) and ``STATS <n>`` (connect
there to read JSON counters), binds only 127.0.0.1 and exits when its parent
dies or after ``--lifetime`` seconds.

    python farproxy.py --target 127.0.0.1:2121 --delay 0.05 --rate 2097152 --ftp
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import socket
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

CHUNK = 64 * 1024
_PASV = re.compile(rb"^227 .*?\((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)")
_EPSV = re.compile(rb"^229 .*?\(\|\|\|(\d+)\|\)")


@dataclass
class Stats:
    connections: int = 0  # every TCP connection, control and data
    sessions: int = 0  # FTP control connections
    logins: int = 0
    commands: Counter[str] = field(default_factory=Counter)
    bytes_down: int = 0
    bytes_up: int = 0
    active: int = 0
    max_active: int = 0  # TCP connections open at once (HTTP: idle cached ones too)
    max_active_sessions: int = 0
    active_sessions: int = 0
    cuts: int = 0  # connections cut on purpose (--cut-mean)

    def as_dict(self) -> dict[str, object]:
        return {
            "connections": self.connections,
            "sessions": self.sessions,
            "logins": self.logins,
            "commands": dict(self.commands),
            "bytes_down": self.bytes_down,
            "bytes_up": self.bytes_up,
            "active": self.active,
            "max_active": self.max_active,
            "active_sessions": self.active_sessions,
            "max_active_sessions": self.max_active_sessions,
            "cuts": self.cuts,
        }


class Link:
    """One direction of one connection: delayed, paced, in order."""

    def __init__(self, proxy: FarProxy, writer: asyncio.StreamWriter, down: bool) -> None:
        self.proxy = proxy
        self.writer = writer
        self.down = down
        self.queue: asyncio.Queue[tuple[float, bytes | None]] = asyncio.Queue()
        self.sent_at = time.monotonic()
        self.drained = asyncio.Event()
        self.cut_at: int | None = None  # close after this many bytes (--cut-mean)
        self.on_cut: Callable[[], None] = _nothing
        self.delivered = 0
        self.task = asyncio.create_task(self._deliver())

    def put(self, data: bytes | None, read_at: float | None = None) -> None:
        """Deliver ``data`` one delay after it was read (default: now)."""
        when = time.monotonic() if read_at is None else read_at
        self.queue.put_nowait((when + self.proxy.delay, data))

    async def _deliver(self) -> None:
        rate = self.proxy.rate
        try:
            while True:
                due, data = await self.queue.get()
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                if data is None:
                    break
                cut = self.cut_at is not None and self.delivered + len(data) >= self.cut_at
                if cut and self.proxy.cuts_left <= 0:
                    cut, self.cut_at = False, None  # enough cuts made elsewhere
                if cut:
                    self.proxy.cuts_left -= 1
                    assert self.cut_at is not None
                    data = data[: self.cut_at - self.delivered]
                if rate:
                    # Pace: this chunk may leave only when the ones before it
                    # have had their time on the wire.
                    self.sent_at = max(self.sent_at, time.monotonic()) + len(data) / rate
                    pause = self.sent_at - time.monotonic() - len(data) / rate
                    if pause > 0:
                        await asyncio.sleep(pause)
                self.writer.write(data)
                await self.writer.drain()
                self.delivered += len(data)
                if self.down:
                    self.proxy.stats.bytes_down += len(data)
                else:
                    self.proxy.stats.bytes_up += len(data)
                if cut:
                    self.proxy.stats.cuts += 1
                    self.on_cut()
                    break
        except (ConnectionError, OSError):
            pass
        finally:
            self.drained.set()
            try:
                if self.writer.can_write_eof():
                    self.writer.write_eof()
            except (ConnectionError, OSError, RuntimeError):
                pass


def _nothing() -> None:
    return None


class FarProxy:
    def __init__(
        self,
        target: tuple[str, int],
        delay: float,
        rate: float,
        ftp: bool,
        cut_mean: float = 0.0,
        cuts: int = 0,
        seed: int = 0,
    ) -> None:
        self.target = target
        self.cut_mean = cut_mean
        self.cuts_left = cuts if cut_mean > 0 else 0
        self.random = random.Random(seed)
        self.delay = delay
        self.rate = rate
        self.ftp = ftp
        self.stats = Stats()
        self._data_done: dict[int, asyncio.Event] = {}  # per control session: data delivered
        self._aborted: dict[int, asyncio.Event] = {}  # the client sent ABOR on this session

    async def serve(self, host: str, port: int) -> asyncio.Server:
        return await asyncio.start_server(self._control, host, port)

    async def _control(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self._relay(reader, writer, self.target, ftp_control=self.ftp)

    async def _relay(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        target: tuple[str, int],
        ftp_control: bool = False,
        data_done: asyncio.Event | None = None,
    ) -> None:
        self.stats.connections += 1
        session = self.stats.sessions + 1 if ftp_control else 0
        if ftp_control:
            self.stats.sessions += 1
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_OOBINLINE, 1)  # ABOR's urgent byte
        try:
            await asyncio.sleep(2 * self.delay)  # the TCP handshake: one round trip
            up_reader, up_writer = await asyncio.open_connection(*target)
        except OSError:
            writer.close()
            return
        # Open, as the server sees it: from its accept to the first close from
        # either side reaching it (so a client closing one connection and
        # opening the next is never counted twice).
        self._opened(ftp_control)
        to_client = Link(self, writer, down=True)
        to_server = Link(self, up_writer, down=False)
        if not ftp_control and self.cuts_left > 0:
            to_client.cut_at = max(1, int(self.random.expovariate(1 / self.cut_mean)))
            to_client.on_cut = up_writer.close  # the server sees the connection go too
        if ftp_control:
            pump_down = self._ftp_replies(up_reader, to_client, session)
            pump_up = self._ftp_commands(reader, to_server, session)
        else:
            pump_down = self._pump(up_reader, to_client)
            pump_up = self._pump(reader, to_server)
        down = asyncio.ensure_future(pump_down)
        up = asyncio.ensure_future(pump_up)
        if data_done is not None:
            # Data "has arrived" once everything the server sent reached the client.
            to_client.task.add_done_callback(lambda _: data_done.set())
        await asyncio.wait([down, to_server.task], return_when=asyncio.FIRST_COMPLETED)
        self._closed(ftp_control)
        await asyncio.gather(down, up, return_exceptions=True)
        await asyncio.gather(to_client.task, to_server.task, return_exceptions=True)
        for w in (writer, up_writer):
            w.close()

    def _opened(self, ftp_control: bool) -> None:
        stats = self.stats
        stats.active += 1
        stats.max_active = max(stats.max_active, stats.active)
        if ftp_control:
            stats.active_sessions += 1
            stats.max_active_sessions = max(stats.max_active_sessions, stats.active_sessions)

    def _closed(self, ftp_control: bool) -> None:
        self.stats.active -= 1
        if ftp_control:
            self.stats.active_sessions -= 1

    async def _pump(self, reader: asyncio.StreamReader, link: Link) -> None:
        try:
            while data := await reader.read(CHUNK):
                link.put(data)
        except (ConnectionError, OSError):
            pass
        link.put(None)

    async def _ftp_commands(self, reader: asyncio.StreamReader, link: Link, session: int) -> None:
        try:
            while line := await reader.readline():
                word = line.lstrip(b"\xff\xf4\xf2").split(b" ", 1)[0].strip().upper()
                name = word.decode("ascii", "replace")
                self.stats.commands[name] += 1
                if name == "USER":
                    self.stats.logins += 1
                elif name == "ABOR":
                    # The client stopped reading: no reply (not even a 226 the
                    # server sent before the ABOR) waits behind data nobody takes.
                    self._aborted.setdefault(session, asyncio.Event()).set()
                link.put(line)
        except (ConnectionError, OSError):
            pass
        link.put(None)

    async def _ftp_replies(self, reader: asyncio.StreamReader, link: Link, session: int) -> None:
        try:
            while line := await reader.readline():
                pasv, epsv = _PASV.match(line), _EPSV.match(line)
                if pasv or epsv:
                    if pasv:
                        port = int(pasv.group(5)) * 256 + int(pasv.group(6))
                    else:
                        assert epsv is not None
                        port = int(epsv.group(1))
                    line = await self._data_listener(port, session, extended=bool(epsv))
                    self._aborted[session] = asyncio.Event()
                read_at = time.monotonic()
                if line.startswith((b"226", b"250 Transfer")):
                    done = self._data_done.get(session)
                    aborted = self._aborted.setdefault(session, asyncio.Event())
                    if done is not None and not aborted.is_set():
                        # The server's word that the data was sent never overtakes
                        # the data (a paced link would hold it back): it travels
                        # beside it, and leaves once the data has arrived.
                        waits = [asyncio.ensure_future(e.wait()) for e in (done, aborted)]
                        await asyncio.wait(waits, timeout=30, return_when=asyncio.FIRST_COMPLETED)
                        for wait in waits:
                            wait.cancel()
                        read_at = max(read_at, time.monotonic() - self.delay)
                link.put(line, read_at)
        except (ConnectionError, OSError):
            pass
        link.put(None)

    async def _data_listener(self, port: int, session: int, extended: bool) -> bytes:
        """A one-shot listener that relays the next data connection to ``port``."""
        done = self._data_done[session] = asyncio.Event()
        server: asyncio.Server | None = None

        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            if server is not None:
                server.close()
            await self._relay(reader, writer, (self.target[0], port), data_done=done)

        server = await asyncio.start_server(accept, "127.0.0.1", 0)
        mine = server.sockets[0].getsockname()[1]
        if extended:
            return f"229 Entering Extended Passive Mode (|||{mine}|)\r\n".encode()
        return f"227 Entering Passive Mode (127,0,0,1,{mine >> 8},{mine & 255})\r\n".encode()


async def serve_stats(proxy: FarProxy) -> asyncio.Server:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(json.dumps(proxy.stats.as_dict()).encode())
        await writer.drain()
        writer.close()

    return await asyncio.start_server(answer, "127.0.0.1", 0)


async def watch_parent(parent: int, lifetime: float) -> None:
    deadline = time.monotonic() + lifetime
    while time.monotonic() < deadline and os.getppid() == parent:
        await asyncio.sleep(0.5)
    os._exit(0)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", required=True, help="HOST:PORT of the real server")
    parser.add_argument("--delay", type=float, default=0.05, help="one-way delay, seconds")
    parser.add_argument("--rate", type=float, default=0, help="bytes/s per connection (0: no cap)")
    parser.add_argument("--ftp", action="store_true")
    parser.add_argument("--lifetime", type=float, default=1800.0)
    parser.add_argument("--port", type=int, default=0, help="listen here (default: any free)")
    parser.add_argument("--cut-mean", type=float, default=0, help="mean bytes before a cut")
    parser.add_argument("--cuts", type=int, default=0, help="data connections to cut")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    host, _, port = args.target.rpartition(":")
    if host not in ("127.0.0.1", "localhost"):
        raise SystemExit("farproxy relays to loopback only")
    proxy = FarProxy(
        (host, int(port)), args.delay, args.rate, args.ftp, args.cut_mean, args.cuts, args.seed
    )
    server = await proxy.serve("127.0.0.1", args.port)
    stats = await serve_stats(proxy)
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    print(f"STATS {stats.sockets[0].getsockname()[1]}", flush=True)
    await watch_parent(os.getppid(), args.lifetime)


if __name__ == "__main__":
    asyncio.run(main())
