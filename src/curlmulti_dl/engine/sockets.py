"""Every socket libcurl opens for us, known by its inode and host.

libcurl creates its sockets through ``OPENSOCKETFUNCTION``; pycurl duplicates
the socket we hand it, so ours is closed right after, and the socket lives
exactly as long as libcurl's copy. Where a socket is at any moment is read
back from ``/proc/self/fd`` (Linux): that is what a server sees of us, idle
connections in libcurl's cache included.

This lets a Downloader close quickly: libcurl ends every cached FTP session
with QUIT and waits for the answer, blocking, one round trip per session (3 s
for 30 sessions 100 ms away). ``shutdown_all`` cuts the sockets first, so
those waits end at once; servers see a closed connection, as on any exit.

Connections opened ahead for a file's ranges (``preconnect``) are
registered here too: a server counts them from their connect.

A host's sessions are its sockets to the URL's port (an FTP data connection
goes to another port and lives only through one transfer): what a server
capping sessions counts, and what connection leases cover. A session that
has served a transfer and is no transfer's now is idle in libcurl's cache;
``cut_idle`` ends such ones (never one still connecting: that one has not
served yet).

No ``CLOSESOCKETFUNCTION``: libcurl may close a cached connection after the
handle that opened it has left the multi, when pycurl can no longer call
Python (it warns and leaks the descriptor).
"""

from __future__ import annotations

import contextlib
import functools
import os
import socket
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pycurl

from .preconnect import WarmSockets
from .runtime import running_loop

__all__ = ["SocketRegistry"]

_FD_DIR = "/proc/self/fd"


class SocketRegistry:
    """The sockets opened for transfers, by inode, with their host."""

    def __init__(self) -> None:
        self._hosts: dict[int, str] = {}  # inode -> host key
        self._data: set[int] = set()  # inodes of connections to another port (FTP data)
        self._served: set[int] = set()  # inodes of sessions a transfer has finished on
        # Inodes of sockets cut here that libcurl has yet to close: closed
        # at the server, so no longer counted.
        self._cut: set[int] = set()
        self._handed_over: list[socket.socket] = []  # ours, after pycurl's dup
        self.warm = WarmSockets()
        # Under a rate limit: the kernel's receive buffer per connection
        # (RateGate.receive_window; without it, 11 MiB left the server in the
        # first 0.25 s of a 6 MiB/s run on loopback).
        self.receive_buffer: int | None = None

    def adopt(self, host: str, address: tuple[Any, ...], sock: socket.socket) -> None:
        """Give ``host``'s next transfer ``sock``, connected elsewhere (the
        command's early connection, ``cli.early``)."""
        if self.warm.adopt(host, address, sock):
            self._register(sock, host)
        else:
            sock.close()

    def opener(self, host: str, preconnect: Callable[[], int] | None = None) -> Callable[..., Any]:
        """An ``OPENSOCKETFUNCTION`` for transfers to ``host``. A first
        contact with ``host`` also opens ``preconnect()`` more connections to
        the same address (asked once connected: files given together are all
        known by then)."""

        def opensocket(purpose: int, address: tuple[Any, ...]) -> socket.socket | None:
            self._release_handed_over()
            sock = self.warm.take(host, address)
            # Only on a first contact: a connection libcurl keeps idle is
            # not in the slot count that ``preconnect`` came from.
            first_contact = preconnect is not None and (
                sock is not None or not self._opened_to(host)
            )
            if sock is None:
                try:
                    sock = socket.socket(address[0], address[1], address[2])
                except OSError:
                    return None  # libcurl reports a connect failure
                self._register(sock, host, _is_data(host, address))
            if preconnect is not None and first_contact:
                # After libcurl's connect of this one, which returns first: a
                # server that handshakes TLS in its accept loop, blocking,
                # must meet a connection that speaks, not one that waits.
                with contextlib.suppress(RuntimeError):  # no loop: none opened ahead
                    running_loop().call_soon(
                        functools.partial(self._open_ahead, host, tuple(address), preconnect)
                    )
            self._handed_over.append(sock)  # closed once pycurl holds its copy
            # Soon, not at the next open: while our copy is open, libcurl's
            # close does not end the connection, and a server that waits for
            # the data connection to close before its 226 (proftpd) waits
            # ~10 s, with libcurl waiting for that 226 blocking.
            with contextlib.suppress(RuntimeError):  # no loop: at the next open
                running_loop().call_soon(self._release_handed_over)
            return sock

        return opensocket

    def sockopt(self, fd: int, purpose: int) -> int:
        """A ``SOCKOPTFUNCTION``: a connection opened ahead is not connected again."""
        if self.receive_buffer is not None:
            _set_receive_buffer(fd, self.receive_buffer)
        if self.warm.was_connected(fd):
            return pycurl.SOCKOPT_ALREADY_CONNECTED  # type: ignore[no-any-return]
        return pycurl.SOCKOPT_OK  # type: ignore[no-any-return]

    def _open_ahead(self, host: str, address: tuple[Any, ...], count: Callable[[], int]) -> None:
        for sock in self.warm.open(host, address, count()):
            self._register(sock, host)

    def _register(self, sock: socket.socket, host: str, data: bool = False) -> None:
        inode = os.fstat(sock.fileno()).st_ino
        self._hosts[inode] = host
        if data:
            self._data.add(inode)

    def _release_handed_over(self) -> None:
        for sock in self._handed_over:
            sock.close()
        self._handed_over.clear()

    def _live(self) -> Iterator[tuple[int, str]]:
        """(descriptor, host) of every registered socket libcurl holds now."""
        for fd, _, host in self._live_entries():
            yield fd, host

    def _live_entries(self) -> Iterator[tuple[int, int, str]]:
        """(descriptor, inode, host) of every registered socket open now."""
        self._release_handed_over()
        try:
            names = os.listdir(_FD_DIR)
        except OSError:
            return
        seen = set()
        for name in names:
            try:
                target = os.readlink(f"{_FD_DIR}/{name}")
            except OSError:
                continue
            if not target.startswith("socket:["):
                continue
            inode = int(target[8:-1])
            host = self._hosts.get(inode)
            if host is not None:
                seen.add(inode)
                if inode not in self._cut:
                    yield int(name), inode, host
        for inode in set(self._hosts) - seen:
            del self._hosts[inode]  # closed by libcurl since
            self._data.discard(inode)
            self._served.discard(inode)
            self._cut.discard(inode)

    def _opened_to(self, host: str) -> bool:
        return host in self._hosts.values() and any(h == host for _, h in self._live())

    def open_sockets(self) -> Counter[str]:
        """Open sockets per host (FTP: control and data connections)."""
        return Counter(host for _, host in self._live())

    def open_sessions(self) -> Counter[str]:
        """Open sessions per host: sockets to the URL's port, idle included."""
        return Counter(host for _, inode, host in self._live_entries() if inode not in self._data)

    def served(self, fd: int) -> None:
        """A transfer ended well on libcurl's descriptor ``fd`` (its
        ``LASTSOCKET``), which libcurl keeps for the next: connected, idle."""
        inode = _inode(fd)
        if inode in self._hosts:
            self._served.add(inode)

    def cut_idle(self, host: str, busy: set[int], most: int) -> int:
        """Cut up to ``most`` sessions to ``host`` that have served a transfer
        and are not in ``busy`` (descriptors of running transfers); returns
        how many were cut. libcurl finds them dead when it looks for one to
        reuse, and closes them."""
        cut = 0
        for fd, inode, owner in list(self._live_entries()):
            if cut >= most:
                break
            if owner != host or fd in busy or inode not in self._served:
                continue
            if _shutdown(fd):
                self._served.discard(inode)
                self._cut.add(inode)
                cut += 1
        return cut

    def shutdown_all(self) -> None:
        """Cut every open connection (before the multi handle closes them)."""
        for fd, inode, _ in list(self._live_entries()):
            if _shutdown(fd):
                self._cut.add(inode)

    def close(self) -> None:
        self.warm.close()
        self._release_handed_over()
        self._hosts.clear()
        self._data.clear()
        self._served.clear()
        self._cut.clear()


def _is_data(host: str, address: tuple[Any, ...]) -> bool:
    """Whether ``address`` is on another port than ``host``'s ("name:port")."""
    try:
        return int(address[3][1]) != int(host.rsplit(":", 1)[1])
    except (IndexError, TypeError, ValueError):
        return False


def _inode(fd: int) -> int:
    try:
        return os.fstat(fd).st_ino
    except OSError:
        return -1


def _shutdown(fd: int) -> bool:
    try:
        # A copy of libcurl's descriptor: shutdown acts on the socket both
        # share; closing the copy leaves libcurl's to libcurl.
        with socket.socket(fileno=os.dup(fd)) as copy:
            copy.shutdown(socket.SHUT_RDWR)
    except OSError:
        return False
    return True


def _set_receive_buffer(fd: int, size: int) -> None:
    """SO_RCVBUF on libcurl's descriptor (through a duplicate we close)."""
    try:
        sock = socket.socket(fileno=os.dup(fd))
    except OSError:
        return
    with sock:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
        except OSError:
            pass
