"""What a batch is made of: the items it reads (``DownloadRequest``) and the
results it gives for files no connection was spent on (a failure before the
first request, a file skipped as already there)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._exceptions import DownloadError, ProtocolError, RetriesExhaustedError, StorageError
from ._progress import DownloadResult
from ._redact import redact_url

__all__ = [
    "DownloadRequest",
    "Item",
    "as_request",
    "failed_result",
    "item_error",
    "skipped_result",
]


@dataclass(frozen=True)
class DownloadRequest:
    """One item of a batch: ``url`` to ``dest`` (a file path, relative to the
    batch's directory, or a directory; None: the URL's file name in the
    batch's directory), with its own ``checksum`` and other ``options``
    (keywords of ``fetch``). ``dest`` never leaves the batch's directory: an
    absolute one, or one with ``..`` parts, fails the item."""

    url: str
    dest: str | os.PathLike[str] | None = None
    checksum: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"DownloadRequest({redact_url(self.url)!r}, dest={self.dest!r})"


Item = str | DownloadRequest


def as_request(item: Item) -> DownloadRequest:
    return item if isinstance(item, DownloadRequest) else DownloadRequest(str(item))


def skipped_result(url: str, path: Path) -> DownloadResult:
    public = redact_url(url)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise StorageError(f"cannot read {path}: {exc.strerror or exc}", url=url) from None
    return dataclasses.replace(
        _result(public, path), size=size, skipped=True, notice="exists: skipped without a request"
    )


def failed_result(url: str, path: Path | None, error: DownloadError) -> DownloadResult:
    """A result for a file that failed; ``path``: where it would have gone,
    None if that is not known. The error loses its traceback (and so do the
    failures of its attempts): their frames would keep every failed file's
    locals alive (a long batch of missing files grew by ~20 KB a file)."""
    _forget_frames(error)
    return dataclasses.replace(_result(redact_url(url), path), error=error)


def item_error(exc: Exception, url: str, doing: str) -> DownloadError:
    """``exc``, raised while ``doing`` ("listing", "preparing") something for
    one item, as a typed error of the tree: that item's failure, never the
    batch's."""
    if isinstance(exc, DownloadError):
        return exc
    if isinstance(exc, OSError):
        return StorageError(f"{exc.strerror or exc}", url=url)
    if doing == "listing" and isinstance(exc, ValueError):  # (UnicodeError included)
        return ProtocolError(f"cannot read what the server said: {exc}", url=url)
    if isinstance(exc, (TypeError, ValueError)):
        return DownloadError(f"{exc}", url=url)  # an option or a name of the item
    return DownloadError(f"internal error while {doing}: {exc!r}", url=url)


def _result(public_url: str, path: Path | None) -> DownloadResult:
    """A result for a file no connection was spent on."""
    return DownloadResult(
        url=public_url,
        effective_url=public_url,
        path=path,
        size=0,
        elapsed=0.0,
        connections=0,
        ranges=0,
        splits=0,
    )


def _forget_frames(error: BaseException) -> None:
    seen: set[int] = set()
    pending: list[BaseException] = [error]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        current.__traceback__ = None
        pending += [e for e in (current.__cause__, current.__context__) if e is not None]
        if isinstance(current, RetriesExhaustedError):
            pending += current.attempts
