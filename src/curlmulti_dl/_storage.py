"""The output file: ``NAME.part`` locked, reserved, written at offsets, renamed.

Every range writes into the one descriptor with ``os.pwrite`` at its own
offset (descriptors made with ``os.dup`` share a file offset, so per-range file
objects would corrupt the file). The final name appears only through
``commit``, after every byte arrived.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
from pathlib import Path

from ._exceptions import DestinationLockedError, DiskFullError, StorageError

__all__ = ["PartFile"]

# The running process already has libc loaded: look fallocate up there
# (ctypes.util.find_library would spawn ldconfig, ~25 ms of CLI start-up).
try:
    _libc: ctypes.CDLL | None = ctypes.CDLL(None, use_errno=True)
except OSError:
    _libc = None
_fallocate = getattr(_libc, "fallocate", None) if _libc is not None else None
if _fallocate is not None:
    _fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong]
    _fallocate.restype = ctypes.c_int


def _storage_error(exc: OSError, what: str, path: Path, url: str) -> StorageError:
    cls = DiskFullError if exc.errno in (errno.ENOSPC, errno.EDQUOT) else StorageError
    return cls(f"cannot {what} {path}: {exc.strerror or exc}", url=url)


class PartFile:
    """``final_path + '.part'``, exclusively locked while a download owns it."""

    def __init__(self, final_path: Path, url: str = "") -> None:
        self.final_path = final_path
        self.part_path = final_path.with_name(final_path.name + ".part")
        self.url = url
        self.fd = -1
        if final_path.is_dir():
            raise StorageError(f"{final_path} is a directory", url=url)
        try:
            fd = os.open(self.part_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise _storage_error(exc, "create", self.part_path, url) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise DestinationLockedError(
                f"{self.part_path} is being written by another download", url=url
            ) from None
        self.fd = fd
        try:
            # No resume journal yet: an old .part holds nothing we can trust.
            os.ftruncate(fd, 0)
        except OSError as exc:
            self.discard()
            raise _storage_error(exc, "truncate", self.part_path, url) from None

    def reserve(self, size: int) -> None:
        """Reserve ``size`` bytes: fallocate, or a sparse ftruncate where the
        file system cannot allocate ahead (no zero-filling emulation)."""
        if size <= 0:
            return
        if _fallocate is not None and _fallocate(self.fd, 0, 0, size) == 0:
            return
        err = ctypes.get_errno() if _fallocate is not None else errno.EOPNOTSUPP
        if err in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            raise _storage_error(
                OSError(err, os.strerror(err)), "reserve space for", self.part_path, self.url
            )
        try:
            os.ftruncate(self.fd, size)
        except OSError as exc:
            raise _storage_error(exc, "size", self.part_path, self.url) from None

    def write_at(self, data: memoryview, offset: int) -> None:
        """Write all of ``data`` at ``offset``."""
        try:
            while data:
                written = os.pwrite(self.fd, data, offset)
                data = data[written:]
                offset += written
        except OSError as exc:
            raise _storage_error(exc, "write", self.part_path, self.url) from None

    def commit(self, size: int, fsync: bool) -> None:
        """Cut the file to ``size`` bytes and rename it to the final name."""
        try:
            if os.fstat(self.fd).st_size != size:
                os.ftruncate(self.fd, size)
            if fsync:
                os.fsync(self.fd)
            os.replace(self.part_path, self.final_path)
        except OSError as exc:
            raise _storage_error(exc, "finish", self.final_path, self.url) from None
        finally:
            self._close()

    def discard(self) -> None:
        """Delete ``NAME.part`` (still holding the lock) and close it."""
        if self.fd < 0:
            return
        try:
            os.unlink(self.part_path)
        except FileNotFoundError:
            pass
        except OSError:
            pass  # best effort: the failure being reported matters more
        self._close()

    @property
    def closed(self) -> bool:
        return self.fd < 0

    def _close(self) -> None:
        if self.fd >= 0:
            fd, self.fd = self.fd, -1
            os.close(fd)
