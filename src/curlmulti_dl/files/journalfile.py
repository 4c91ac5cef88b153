"""The journal on disk, beside ``NAME.part``: read without following links,
replaced atomically (temporary file, fsync, rename, directory fsync), removed.
What it says is ``journal.py``'s; when it may be written is ``storage.py``'s."""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from .placing import fsync_directory

__all__ = ["read_journal", "remove_journal", "replace_journal"]


def _temporary(path: Path) -> Path:
    return path.with_name(path.name + ".tmp")


def read_journal(path: Path) -> bytes | None:
    """The journal's bytes, if there is one of ours (never through a link)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid():
            return None
        return os.read(fd, 1 << 20)
    except OSError:
        return None
    finally:
        os.close(fd)


def replace_journal(path: Path, journal: bytes) -> None:
    """Write ``journal`` to a new temporary file (mode 0600), fsync it, rename
    it over ``path`` and fsync the directory. Blocking."""
    temporary = _temporary(path)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(temporary)  # a leftover (or a planted link): never written through
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(temporary, flags, 0o600)
    try:
        os.write(fd, journal)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(temporary, path)
    fsync_directory(path.parent)


def remove_journal(path: Path) -> None:
    """Best effort: a journal that does not match is ignored anyway."""
    for each in (path, _temporary(path)):
        with contextlib.suppress(OSError):
            os.unlink(each)
