"""TCP connections opened before the ranges that will use them.

A file's size comes with its first answer, two round trips after it starts;
each further range would then pay one more round trip just to connect. For a
file alone on its host, the connections for those ranges are opened while the
first request is out (as browsers preconnect), and handed to libcurl when a
range opens its socket (``CURL_SOCKOPT_ALREADY_CONNECTED``). Nothing is sent on
them before that: a server sees a connection and, when no range needs it, its
close. No I/O but non-blocking ``connect`` and ``close``, and a peek that never
waits.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import time
from dataclasses import dataclass, field
from typing import Any

__all__ = ["WarmSockets", "until_connected"]

# A server may drop a connection that sends no request for a while (Apache's
# mod_reqtimeout: 20 s); one kept longer than this is closed, not handed over.
_MAX_AGE = 10.0


@dataclass
class _Host:
    address: tuple[Any, ...]  # libcurl's (family, socktype, protocol, sockaddr)
    sockets: list[socket.socket] = field(default_factory=list)
    opened_at: float = field(default_factory=time.monotonic)
    unneeded_ticks: int = 0


class WarmSockets:
    """Connections opened ahead, per host, each used at most once."""

    def __init__(self) -> None:
        self._hosts: dict[str, _Host] = {}
        self._connected_inodes: set[int] = set()  # handed over, already connected

    def open(self, host: str, address: tuple[Any, ...], count: int) -> list[socket.socket]:
        """Start ``count`` connections to ``address`` (none if ``host`` still
        has some): the new sockets, for the caller to register."""
        if count < 1 or self._hosts.get(host):
            return []
        entry = _Host(tuple(address))
        for _ in range(count):
            try:
                sock = socket.socket(address[0], address[1], address[2])
            except OSError:
                break
            sock.setblocking(False)
            error = sock.connect_ex(address[3])
            if error not in (0, errno.EINPROGRESS):
                sock.close()
                break
            entry.sockets.append(sock)
        if entry.sockets:
            self._hosts[host] = entry
        return list(entry.sockets)

    def adopt(self, host: str, address: tuple[Any, ...], sock: socket.socket) -> bool:
        """Keep ``sock``, opened elsewhere to ``address``, for ``host``'s next
        transfer (False: ``host`` has connections waiting already)."""
        if self._hosts.get(host):
            return False
        self._hosts[host] = _Host(tuple(address), [sock])
        return True

    def count(self, host: str | None = None) -> int:
        """Connections waiting for a range: of ``host``, or of every host."""
        entries = self._hosts.values() if host is None else [self._hosts.get(host)]
        return sum(len(entry.sockets) for entry in entries if entry is not None)

    def take(self, host: str, address: tuple[Any, ...]) -> socket.socket | None:
        """A connected socket to ``address`` for libcurl, or None. Without
        one, a socket still connecting is closed in its place, so that the
        connections a server sees never outnumber the slots they were
        counted in."""
        entry = self._hosts.get(host)
        if entry is None:
            return None
        if _endpoint(entry.address) != _endpoint(address):
            self.close(host)  # libcurl connects elsewhere (another address of the name)
            return None
        too_old = time.monotonic() - entry.opened_at > _MAX_AGE
        taken = None
        while entry.sockets and taken is None:
            sock = entry.sockets.pop(0)
            state = _state(sock)
            if state == "ready" and not too_old:
                taken = sock
                self._connected_inodes.add(os.fstat(sock.fileno()).st_ino)
                continue
            sock.close()
            if state == "connecting" and not too_old:
                break  # closed for the one about to open
        if not entry.sockets:
            del self._hosts[host]
        return taken

    def was_connected(self, fd: int) -> bool:
        """Whether libcurl's ``fd`` is a connection handed over connected
        (asked once per socket, from ``SOCKOPTFUNCTION``)."""
        try:
            inode = os.fstat(fd).st_ino
        except OSError:
            return False
        if inode in self._connected_inodes:
            self._connected_inodes.discard(inode)
            return True
        return False

    def cool(self, needed: set[str]) -> None:
        """Close the connections of hosts no file waits on for a second tick
        running: the ranges a plan started open theirs in between."""
        for host, entry in list(self._hosts.items()):
            if host in needed:
                entry.unneeded_ticks = 0
                continue
            entry.unneeded_ticks += 1
            if entry.unneeded_ticks >= 2:
                self.close(host)

    def close(self, host: str | None = None) -> None:
        """Close the unused connections of ``host`` (None: of every host)."""
        for key in [host] if host is not None else list(self._hosts):
            entry = self._hosts.pop(key, None)
            for sock in entry.sockets if entry is not None else ():
                sock.close()
        if host is None:
            self._connected_inodes.clear()


def _endpoint(address: tuple[Any, ...]) -> tuple[Any, ...]:
    """Family and socket address: libcurl's socket type carries SOCK_CLOEXEC."""
    return (int(address[0]), address[3])


async def until_connected(sock: socket.socket, timeout: float) -> bool:
    """Wait (at most ``timeout`` seconds) for a connection started without
    waiting; whether it is connected."""
    loop = asyncio.get_running_loop()
    writable: asyncio.Future[None] = loop.create_future()

    def ready() -> None:
        if not writable.done():
            writable.set_result(None)

    loop.add_writer(sock.fileno(), ready)
    try:
        await asyncio.wait_for(writable, timeout)
    except asyncio.TimeoutError:
        return False
    finally:
        loop.remove_writer(sock.fileno())
    return _state(sock) == "ready"


def _state(sock: socket.socket) -> str:
    """ "ready" (connected, nothing received: the server has not closed it),
    "connecting", or "dead"."""
    try:
        sock.getpeername()
    except OSError:
        failed = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        return "dead" if failed else "connecting"
    try:
        sock.recv(1, socket.MSG_PEEK)
    except BlockingIOError:
        return "ready"
    except OSError:
        return "dead"
    return "dead"  # an end of stream, or bytes before any request
