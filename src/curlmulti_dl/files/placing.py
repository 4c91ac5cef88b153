"""Putting a finished ``NAME.part`` in place: a rename that never replaces a
file that appeared meanwhile, or standing in for an existing file as
``curl -o`` would (same mode and owner; a hard-linked file updated in place)."""

from __future__ import annotations

import ctypes
import errno
import os
import stat
from pathlib import Path

__all__ = ["copy_into", "fsync_directory", "rename_new", "replace_keeping"]

# The running process already has libc loaded: look functions up there
# (ctypes.util.find_library would spawn ldconfig, ~25 ms of CLI start-up).
try:
    libc: ctypes.CDLL | None = ctypes.CDLL(None, use_errno=True)
except OSError:
    libc = None
_renameat2 = getattr(libc, "renameat2", None) if libc is not None else None
if _renameat2 is not None:
    _renameat2.argtypes = [
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_uint,
    ]
    _renameat2.restype = ctypes.c_int
_AT_FDCWD = -100
_RENAME_NOREPLACE = 1


def rename_new(part: Path, final: Path) -> bool:
    """Rename ``part`` to ``final`` unless ``final`` exists (then False)."""
    src, dst = os.fsencode(part), os.fsencode(final)
    if _renameat2 is not None:
        if _renameat2(_AT_FDCWD, src, _AT_FDCWD, dst, _RENAME_NOREPLACE) == 0:
            return True
        err = ctypes.get_errno()
        if err == errno.EEXIST:
            return False
        if err not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
            raise OSError(err, os.strerror(err))
    try:
        os.link(src, dst)  # atomic "create if absent" where links exist
    except FileExistsError:
        return False
    except OSError:
        if os.path.lexists(final):
            return False
        os.replace(src, dst)
        return True
    os.unlink(src)
    return True


def replace_keeping(fd: int, part: Path, final: Path, old: os.stat_result) -> None:
    """Replace ``final`` by ``part`` (open as ``fd``), keeping ``old``'s mode
    and, where allowed, its owner."""
    os.fchmod(fd, stat.S_IMODE(old.st_mode))
    mine = os.fstat(fd)
    if (old.st_uid, old.st_gid) != (mine.st_uid, mine.st_gid):
        try:
            os.fchown(fd, old.st_uid, old.st_gid)
        except PermissionError:
            pass  # not root: the file becomes ours, as with any new file
    os.replace(part, final)


def copy_into(fd: int, final: Path, mtime: float | None) -> None:
    """A hard-linked file keeps its inode: the finished download is copied
    into it (the only case where the final name sees a write in progress)."""
    target = os.open(final, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        size = os.fstat(fd).st_size
        os.ftruncate(target, 0)
        offset = 0
        while offset < size:
            sent = os.sendfile(target, fd, offset, min(size - offset, 1 << 30))
            if sent == 0:
                raise OSError(errno.EIO, "short copy")
            offset += sent
        if mtime is not None:
            os.utime(target, (mtime, mtime))
        os.fsync(target)
    finally:
        os.close(target)


def fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
