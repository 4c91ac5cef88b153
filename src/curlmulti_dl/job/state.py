"""A file download's states."""

from __future__ import annotations

import enum

__all__ = ["DownloadState"]


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
