"""Where a download goes, decided per kind of target before any byte arrives.

=====================  ==========================================================
target at the path     what happens
=====================  ==========================================================
nothing                ``NAME.part`` is written, then renamed to ``NAME``
regular file           refused (``DestinationExistsError``) unless ``overwrite``;
                       then replaced keeping its mode, owner and hard links
symbolic link          followed: the rules apply to the file it points to, and
                       the link stays a link (a link planted by another user in
                       a sticky world-writable directory is refused, as the
                       kernel's ``protected_symlinks`` does for opens)
character device, FIFO written as one stream, in order; never renamed over
an open descriptor     the same (``dest=1`` is standard output)
directory              the URL's file name inside it
block device, socket   refused
=====================  ==========================================================
"""

from __future__ import annotations

import enum
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from .._exceptions import DestinationExistsError, StorageError
from .names import filename_from_url
from .stamps import ETAG_ATTRIBUTE, LocalCopy

__all__ = ["Destination", "TargetKind", "local_copy_at", "resolve_destination"]

Dest = str | os.PathLike[str] | int | None


class TargetKind(enum.Enum):
    NEW = "new"  # nothing there yet: NAME.part, then rename
    REPLACE = "replace"  # an existing regular file the caller allowed us to replace
    STREAM = "stream"  # a character device, FIFO or open descriptor: in order, no rename


@dataclass(frozen=True)
class Destination:
    """A resolved destination. ``existing`` is the stat of a file to replace."""

    path: Path
    kind: TargetKind
    existing: os.stat_result | None = None
    fd: int | None = None  # a descriptor the caller owns (kind STREAM)

    @property
    def is_stream(self) -> bool:
        return self.kind is TargetKind.STREAM


def resolve_destination(url: str, dest: Dest, *, overwrite: bool = False) -> Destination:
    """Decide what writing ``url`` to ``dest`` means (see the module's table).

    ``dest`` is a file path, an existing directory to put the URL's file name
    in (default: the working directory), or an open descriptor.
    """
    if isinstance(dest, bool):
        raise TypeError("dest must be a path, a directory or a file descriptor")
    if isinstance(dest, int):
        return Destination(Path(f"/dev/fd/{dest}"), TargetKind.STREAM, fd=dest)
    if dest is None:
        path = Path.cwd() / filename_from_url(url)
    else:
        path = Path(dest)
        if path.is_dir():
            path = path / filename_from_url(url)
        elif os.fspath(dest).endswith(os.sep):
            raise StorageError(f"directory {path} does not exist", url=url)
    return _classify(url, path, overwrite, hops=0)


def _classify(url: str, path: Path, overwrite: bool, hops: int) -> Destination:
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        if not path.parent.is_dir():
            raise StorageError(f"directory {path.parent} does not exist", url=url) from None
        return Destination(path, TargetKind.NEW)
    except OSError as exc:
        raise StorageError(f"cannot examine {path}: {exc.strerror}", url=url) from None
    mode = info.st_mode
    if stat.S_ISLNK(mode):
        return _follow_link(url, path, info, overwrite, hops)
    if stat.S_ISREG(mode):
        if not overwrite:
            raise DestinationExistsError(
                f"{path} already exists (overwrite=True or --force replaces it)", url=url
            )
        return Destination(path, TargetKind.REPLACE, existing=info)
    if stat.S_ISCHR(mode) or stat.S_ISFIFO(mode):
        return Destination(path, TargetKind.STREAM)
    if stat.S_ISDIR(mode):
        raise StorageError(f"{path} is a directory", url=url)
    kind = "block device" if stat.S_ISBLK(mode) else "socket or special file"
    raise StorageError(f"{path} is a {kind}; refusing to write to it", url=url)


def _follow_link(
    url: str, link: Path, info: os.stat_result, overwrite: bool, hops: int
) -> Destination:
    if hops >= 40:
        raise StorageError(f"{link}: too many levels of symbolic links", url=url)
    parent = os.stat(link.parent)
    sticky_shared = parent.st_mode & stat.S_ISVTX and parent.st_mode & stat.S_IWOTH
    if sticky_shared and info.st_uid != os.geteuid() and info.st_uid != parent.st_uid:
        raise StorageError(
            f"{link} is a symbolic link owned by another user in a shared directory; "
            "refusing to follow it",
            url=url,
        )
    target = Path(os.readlink(link))
    if not target.is_absolute():
        target = link.parent / target
    return _classify(url, target, overwrite, hops + 1)


def local_copy_at(path: Path) -> LocalCopy | None:
    """The size and stamps of the regular file at ``path`` (None if there is none)."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    if not stat.S_ISREG(info.st_mode):
        return None
    try:
        etag = os.getxattr(path, ETAG_ATTRIBUTE).decode("utf-8", "surrogateescape")
    except (OSError, AttributeError):
        etag = None
    return LocalCopy(info.st_size, info.st_mtime, etag)
