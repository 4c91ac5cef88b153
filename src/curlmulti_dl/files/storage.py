"""The output file: ``NAME.part`` locked, reserved, written at offsets, renamed
(streams, written in order, are in ``stream.py``).

Every range writes into the one descriptor with ``os.pwrite`` at its own
offset (descriptors made with ``os.dup`` share a file offset, so per-range file
objects would corrupt the file). The final name appears only through
``commit``, after every byte arrived.

``NAME.part`` is opened without following links and must be a regular file
with one link, owned by this user, that this process could lock and that is
still the file at that path once locked: a link or file planted there by
someone else is refused, never truncated, written or deleted.

And it must be ours: a ``NAME.part`` this tool made carries the extended
attribute ``user.curlmulti_dl.part`` (set when it is created) or has an
intact journal of ours beside it. Any other ``NAME.part``, or a
``NAME.part.journal`` that is not a journal of ours, is the user's own file
that happens to have that name: it is left as it is and the download fails
with ``ForeignFileError``.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import stat
import threading
from pathlib import Path
from typing import Protocol

from .._exceptions import (
    DestinationExistsError,
    DestinationLockedError,
    DiskFullError,
    ForeignFileError,
    StorageError,
)
from .destination import Destination
from .journal import JournalState, decode, encode
from .journalfile import read_journal, remove_journal, replace_journal
from .names import journal_path_for, part_path_for
from .placing import copy_into, fsync_directory, libc, rename_new, replace_keeping

__all__ = ["PartFile", "Storage", "storage_error"]

_fallocate = getattr(libc, "fallocate", None) if libc is not None else None
if _fallocate is not None:
    _fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong]
    _fallocate.restype = ctypes.c_int
_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
#: Marks a ``NAME.part`` as made by this tool (kept until the commit).
OURS_ATTRIBUTE = "user.curlmulti_dl.part"


class Storage(Protocol):
    """Where a download's bytes go."""

    final_path: Path

    def reserve(self, size: int) -> None: ...
    def write_at(self, data: memoryview, offset: int) -> None: ...
    def commit(self, size: int, fsync: bool) -> None: ...
    def discard(self) -> None: ...
    @property
    def closed(self) -> bool: ...


def storage_error(exc: OSError, what: str, path: Path, url: str) -> StorageError:
    cls = DiskFullError if exc.errno in _FULL else StorageError
    return cls(f"cannot {what} {path}: {exc.strerror or exc}", url=url)


class PartFile:
    """``final_path + '.part'``, exclusively locked while a download owns it."""

    def __init__(
        self, destination: Destination, url: str = "", *, keep_existing: bool = False
    ) -> None:
        self.final_path = destination.path
        self.replacing = destination.existing
        self.part_path = part_path_for(self.final_path)
        self.journal_path = journal_path_for(self.part_path)
        # An existing NAME.part is kept as it is (for its journal to vouch for)
        # or emptied.
        self.keep_existing = keep_existing
        self._journal_lock = threading.Lock()
        self._stamp: tuple[float | None, dict[str, str]] = (None, {})
        self.url = url
        self.fd = -1
        self._identity: tuple[int, int] = (0, 0)
        self._xattr_marked = True  # else an empty journal of ours marks NAME.part
        # A NAME.part made by this run, with no journal beside it, has no
        # journal to read or remove and nothing to empty until one is written:
        # a small file costs none of those system calls.
        self._journal_seen = True
        self._empty = False
        for _attempt in range(5):
            if self._open_once():
                return
        raise DestinationLockedError(f"{self.part_path} keeps changing under us", url=url)

    def _open_once(self) -> bool:
        flags = os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC
        path = self.part_path
        created = True
        try:
            fd = os.open(path, flags | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            created = False
            fd = self._open_existing(flags | os.O_NONBLOCK)
            if fd < 0:
                return False  # it vanished between the two opens: try again
        except OSError as exc:
            raise storage_error(exc, "create", path, self.url) from None
        if created:
            try:
                os.setxattr(fd, OURS_ATTRIBUTE, b"1")
            except (OSError, AttributeError):  # no user xattrs here: the journal marks it
                self._xattr_marked = False

        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise DestinationLockedError(
                f"{path} is being written by another download", url=self.url
            ) from None
        info = os.fstat(fd)
        self._identity = (info.st_dev, info.st_ino)
        if not self._still_at_path():
            # Renamed or replaced between our open and our lock: not ours.
            os.close(fd)
            return False
        foreign = self._foreign(fd, created)
        if foreign is not None:
            if created:
                os.unlink(path)  # ours, made a moment ago
            os.close(fd)  # (and its lock)
            what = "no journal of ours" if foreign == self.journal_path else "no mark of ours"
            raise ForeignFileError(
                f"{foreign} was not made by curlmulti-dl ({what}); "
                "left as it is: move it away to download here",
                url=self.url,
            )
        self.fd = fd
        self._empty = created
        if not self.keep_existing:
            self.start_over()
        return True

    def _foreign(self, fd: int, created: bool) -> Path | None:
        """The temporary file that is not ours, if one is. A journal that
        does not decode beside a ``NAME.part`` of ours is a damaged one of
        ours (ignored, then replaced); beside no ``NAME.part`` of ours it is
        the user's."""
        try:
            marked = created or os.getxattr(fd, OURS_ATTRIBUTE) == b"1"
        except OSError:
            marked = False
            self._xattr_marked = False
        self._journal_seen = os.path.lexists(self.journal_path)  # (one lstat when there is none)
        if not created:
            self._journal_seen = True  # (its temporary journal may be left from a crash)
        if self._journal_seen:
            journal = self.read_journal()
            if journal is not None and decode(journal) is not None:
                return None
            if created or not marked:
                return self.journal_path
        return None if marked else self.part_path

    # ------------------------------------------------------------ the journal

    def start_over(self) -> None:
        """Empty ``NAME.part`` and forget its journal: nothing in it is trusted.
        Where the file system keeps no extended attributes, an empty journal
        takes the mark's place: a run killed before its first journal leaves
        a ``NAME.part`` the next run knows as ours."""
        if not self._empty:
            try:
                os.ftruncate(self.fd, 0)
            except OSError as exc:
                self.discard()
                raise storage_error(exc, "truncate", self.part_path, self.url) from None
            self._empty = True
        self._remove_journal()
        if not self._xattr_marked:
            self._journal_seen = True
            with contextlib.suppress(OSError):  # (then the next run refuses it: said)
                replace_journal(self.journal_path, encode(JournalState("", 0, None, None, ())))

    def read_journal(self) -> bytes | None:
        return read_journal(self.journal_path) if self._journal_seen else None

    def sync_then_journal(self, data_fd: int, journal: bytes) -> None:
        """Make the bytes written so far durable, then (only then) replace the
        journal. Blocking: call it from a worker thread, with a copy of the
        descriptor (``data_fd``)."""
        with self._journal_lock:  # one writer at a time; never after a commit or discard
            if self.fd < 0:
                return
            os.fdatasync(data_fd)
            self._journal_seen = True
            replace_journal(self.journal_path, journal)

    def keep(self) -> None:
        """Close ``NAME.part`` and leave it (and its journal) for a later run."""
        self._close()

    def _remove_journal(self) -> None:
        if self._journal_seen:
            remove_journal(self.journal_path)
            self._journal_seen = False

    def _open_existing(self, flags: int) -> int:
        path = self.part_path
        try:
            fd = os.open(path, flags)
        except FileNotFoundError:
            return -1
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise StorageError(
                    f"{path} is a symbolic link; refusing to write through it", url=self.url
                ) from None
            raise storage_error(exc, "open", path, self.url) from None
        info = os.fstat(fd)
        problem = None
        if not stat.S_ISREG(info.st_mode):
            problem = "is not a regular file"
        elif info.st_uid != os.geteuid():
            problem = f"belongs to another user (uid {info.st_uid})"
        elif info.st_nlink != 1:
            problem = f"has {info.st_nlink} hard links"
        if problem:
            os.close(fd)
            raise StorageError(f"{path} {problem}; refusing to use it", url=self.url)
        return fd

    def _still_at_path(self) -> bool:
        try:
            info = os.lstat(self.part_path)
        except OSError:
            return False
        return (info.st_dev, info.st_ino) == self._identity

    def reserve(self, size: int) -> None:
        """Reserve ``size`` bytes: fallocate, or a sparse ftruncate where the
        file system cannot allocate ahead (no zero-filling emulation)."""
        if size <= 0:
            return
        self._empty = False
        if _fallocate is not None and _fallocate(self.fd, 0, 0, size) == 0:
            return
        err = ctypes.get_errno() if _fallocate is not None else errno.EOPNOTSUPP
        if err in _FULL:
            raise storage_error(
                OSError(err, os.strerror(err)), "reserve space for", self.part_path, self.url
            )
        try:
            os.ftruncate(self.fd, size)
        except OSError as exc:
            raise storage_error(exc, "size", self.part_path, self.url) from None

    def write_at(self, data: memoryview, offset: int) -> None:
        """Write all of ``data`` at ``offset``."""
        self._empty = False
        try:
            while data:
                written = os.pwrite(self.fd, data, offset)
                data = data[written:]
                offset += written
        except OSError as exc:
            raise storage_error(exc, "write", self.part_path, self.url) from None

    def commit(self, size: int, fsync: bool) -> None:
        """Cut the file to ``size`` bytes and give it the final name."""
        with self._journal_lock:  # no journal may be written after this
            self._commit(size, fsync)

    def stamp(self, mtime: float | None, attributes: dict[str, str]) -> None:
        """Before the commit: the remote file's modification time (as
        ``curl -R``), and ``user.`` extended attributes (its ETag, its URL)
        where the file system keeps them, so a later run can tell a complete
        file from another. Best effort: neither is needed for the content."""
        self._stamp = (mtime, attributes)
        if mtime is not None:
            with contextlib.suppress(OSError):
                os.utime(self.fd, (mtime, mtime))
        for name, value in attributes.items():
            with contextlib.suppress(OSError, AttributeError):
                os.setxattr(self.fd, name, value.encode("utf-8", "surrogateescape"))

    def _commit(self, size: int, fsync: bool) -> None:
        try:
            if os.fstat(self.fd).st_size != size:
                os.ftruncate(self.fd, size)
            if fsync:
                os.fsync(self.fd)
            if self.replacing is not None:
                self._replace(self.replacing)
            else:
                self._rename_new()
            if self._xattr_marked:
                with contextlib.suppress(OSError):  # (after the rename: a failed one keeps it)
                    os.removexattr(self.fd, OURS_ATTRIBUTE)  # a finished file is the user's
            self._remove_journal()
            if fsync:
                fsync_directory(self.final_path.parent)
        except OSError as exc:
            raise storage_error(exc, "finish", self.final_path, self.url) from None
        finally:
            self._close()

    def _replace(self, old: os.stat_result) -> None:
        if old.st_nlink > 1:
            copy_into(self.fd, self.final_path, self._stamp[0])
            self._unlink_if_ours()
        else:
            replace_keeping(self.fd, self.part_path, self.final_path, old)

    def _rename_new(self) -> None:
        if not rename_new(self.part_path, self.final_path):
            raise self._appeared()

    def _appeared(self) -> DestinationExistsError:
        return DestinationExistsError(
            f"{self.final_path} appeared during the download and was left alone; "
            f"the download is in {self.part_path}",
            url=self.url,
        )

    def discard(self) -> None:
        """Delete ``NAME.part`` (and its journal) if it is still ours, and close it."""
        if self.fd < 0:
            return
        with self._journal_lock:
            if self._still_at_path():
                self._remove_journal()
            self._unlink_if_ours()
            self._close()

    def _unlink_if_ours(self) -> None:
        if not self._still_at_path():
            return  # someone else's file now stands at that name: never delete it
        try:
            os.unlink(self.part_path)
        except OSError:
            pass  # best effort: the failure being reported matters more

    @property
    def closed(self) -> bool:
        return self.fd < 0

    def _close(self) -> None:
        if self.fd >= 0:
            fd, self.fd = self.fd, -1
            os.close(fd)
