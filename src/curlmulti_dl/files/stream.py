"""A stream destination (a character device, a FIFO, an open descriptor):
bytes written once, in order, over one connection; nothing is renamed."""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import time
from pathlib import Path
from typing import Any

import anyio

from .._exceptions import StorageError
from .destination import Destination
from .storage import storage_error

__all__ = ["StreamFile", "open_stream"]


async def open_stream(
    destination: Destination, url: str, wait_for_reader: float = 30.0
) -> StreamFile:
    """Open a stream destination. A FIFO nobody reads yet is waited for (up
    to ``wait_for_reader`` seconds) without blocking the loop."""
    if destination.fd is not None:
        return StreamFile(destination, url, destination.fd)
    deadline = time.monotonic() + wait_for_reader
    while True:
        try:
            return StreamFile(destination, url, _open_for_writing(destination.path))
        except OSError as exc:
            # ENXIO: a FIFO nobody reads yet.
            if exc.errno != errno.ENXIO or time.monotonic() > deadline:
                raise storage_error(exc, "open", destination.path, url) from None
        await anyio.sleep(0.02)


class StreamFile:
    """A character device, FIFO or descriptor: bytes written once, in order.

    Writes block (backpressure from a slow reader holds the transfer back).
    Nothing is renamed and nothing can be taken back on failure.
    """

    def __init__(self, destination: Destination, url: str, fd: int) -> None:
        self.final_path = destination.path
        self.url = url
        self.written = 0
        self.fd = fd
        self._owned = destination.fd is None  # the caller's descriptor stays open
        self._hashers: dict[str, Any] = {}  # a stream cannot be read back: hash as it goes

    def track_digest(self, algorithm: str) -> None:
        """Compute ``algorithm``'s digest of every byte written from now on."""
        self._hashers.setdefault(algorithm, hashlib.new(algorithm))

    def digests(self) -> dict[str, str]:
        return {name: hasher.hexdigest() for name, hasher in self._hashers.items()}

    def reserve(self, size: int) -> None:
        return None

    def write_at(self, data: memoryview, offset: int) -> None:
        if offset != self.written:
            raise StorageError(
                f"{self.final_path} is a stream: bytes must arrive in order", url=self.url
            )
        for hasher in self._hashers.values():
            hasher.update(data)
        try:
            while data:
                written = os.write(self.fd, data)
                data = data[written:]
                self.written += written
        except BrokenPipeError:
            raise StorageError(f"the reader of {self.final_path} went away", url=self.url) from None
        except OSError as exc:
            raise storage_error(exc, "write", self.final_path, self.url) from None

    def commit(self, size: int, fsync: bool) -> None:
        self._close()

    def discard(self) -> None:
        self._close()

    @property
    def closed(self) -> bool:
        return self.fd < 0

    def _close(self) -> None:
        if self.fd >= 0 and self._owned:
            os.close(self.fd)
        self.fd = -1


def _open_for_writing(path: Path) -> int:
    """Open a device or FIFO for (blocking) writes; ENXIO: a FIFO without reader."""
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC | os.O_NOCTTY | os.O_NONBLOCK)
    info = os.fstat(fd)
    if not (stat.S_ISCHR(info.st_mode) or stat.S_ISFIFO(info.st_mode)):
        os.close(fd)
        raise OSError(errno.EINVAL, "not a character device or FIFO any more")
    os.set_blocking(fd, True)
    return fd
