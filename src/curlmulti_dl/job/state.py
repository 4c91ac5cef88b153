"""A file download's states, and the two signals that end a first request
early (raised inside the write callback, read by the state machine)."""

from __future__ import annotations

import enum

from .._exceptions import DownloadError

__all__ = ["AlreadyThere", "DownloadState", "StartOver"]


class DownloadState(enum.Enum):
    QUEUED = "queued"  # waiting for its first slot: holds no file descriptor
    PROBING = "probing"  # the first request is out; the size is not known yet
    RUNNING = "running"
    VERIFYING = "verifying"  # every byte is in; the checksum is being computed
    DATING = "dating"  # every byte is in; the file's date is being asked (FTP)
    FINISHED = "finished"
    FAILED = "failed"

    @property
    def is_over(self) -> bool:
        return self in (DownloadState.FINISHED, DownloadState.FAILED)


class StartOver(DownloadError):
    """The first answer is not the file the resume journal describes."""


class AlreadyThere(DownloadError):
    """The destination already holds the remote file: nothing to download."""
