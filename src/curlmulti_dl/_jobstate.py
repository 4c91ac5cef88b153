"""A file download's states, the events it sends its Downloader, and the
two internal signals that end a first request early."""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Protocol

from ._exceptions import DownloadError
from ._plan import ByteRange

if TYPE_CHECKING:
    from ._download import FileDownload
    from ._transfer import RangeTransfer

__all__ = ["AlreadyThere", "DownloadState", "JobEvents", "StartOver"]


class DownloadState(enum.Enum):
    QUEUED = "queued"  # waiting for its first slot: holds no file descriptor
    PROBING = "probing"  # the first request is out; the size is not known yet
    RUNNING = "running"
    VERIFYING = "verifying"  # every byte is in; the checksum is being computed
    DATING = "dating"  # every byte is in; the file's date is being asked (_dating)
    FINISHED = "finished"
    FAILED = "failed"

    @property
    def is_over(self) -> bool:
        return self in (DownloadState.FINISHED, DownloadState.FAILED)


class StartOver(DownloadError):
    """The first answer is not the file the resume journal describes."""


class AlreadyThere(DownloadError):
    """The destination already holds the remote file: nothing to download."""


class ListingUnusable(DownloadError):
    """MLST was refused (``refused``) or gave no size and date of a plain
    file: the file is asked again with MDTM and SIZE."""

    def __init__(self, message: str, *, url: str, refused: bool) -> None:
        super().__init__(message, url=url)
        self.refused = refused


class JobEvents(Protocol):
    def probe_ready(self, job: FileDownload, transfer: RangeTransfer) -> None:
        """The first answer arrived (called soon after, never inside libcurl)."""

    def retry_ready(self, job: FileDownload, rest: ByteRange | None) -> None:
        """A failed range's back-off is over (``rest``: its unwritten bytes;
        None: the first request is to be sent again)."""

    def host_refused(self, job: FileDownload) -> None:
        """``job``'s server refused one more connection."""

    def connections_to_open_ahead(self, job: FileDownload) -> int:
        """Connections to open for ``job``'s later ranges while its first
        request is out (``_preconnect``)."""

    def share_of_free_slots(self, job: FileDownload) -> int:
        """How many connections ``job`` may start on (arithmetic only: this is
        asked inside libcurl's write callback)."""
