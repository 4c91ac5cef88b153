"""How files given together share their host's free slots. Pure arithmetic
over the running downloads: asked inside libcurl's write callback, never
blocking and never starting anything."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from ._scheduler import Scheduler

if TYPE_CHECKING:
    from ._download import FileDownload

__all__ = ["connections_to_open_ahead", "share_of_free_slots", "unplanned_on"]


def share_of_free_slots(
    job: FileDownload, jobs: Iterable[FileDownload], scheduler: Scheduler[FileDownload]
) -> int:
    """How many connections ``job`` may start on: its own, plus an even share
    of the host's free slots among the files not planned yet.

    Files given together thus split the host's sessions between them instead
    of each planning ``parts`` ranges that would queue for logins; slots freed
    later go to the file that would finish last (``FileDownload.rank``).
    """
    key = job.host_key
    free = min(scheduler.host(key).available, scheduler.total.available)
    unplanned = 1
    for other in jobs:
        if other is job or other.host_key != key:
            continue
        book = other.book
        free -= len(book.queue) + (book.promised - 1 if book.promised else 0)
        if book.promised is None and book.probe is None and not other.state.is_over:
            unplanned += 1
    return 1 + -(-max(0, free) // unplanned)


def unplanned_on(key: str, jobs: Iterable[FileDownload]) -> bool:
    """Whether a file of host ``key`` has yet to queue its planned ranges (its
    share may be promised, but its ranges are not in line yet): splits wait."""
    return any(
        job.host_key == key and job.book.probe is None for job in jobs if not job.state.is_over
    )


def connections_to_open_ahead(
    job: FileDownload, jobs: Iterable[FileDownload], scheduler: Scheduler[FileDownload]
) -> int:
    """How many connections to open for ``job``'s later ranges while its first
    request is out (asked once it holds its slot): one per part beyond the
    first, within the free slots, and only for an HTTP file alone on its
    host, so that files given together never open more than their slots.
    FTP sessions are priced per login (``HostProfile``) and are not opened
    ahead."""
    options = job.options
    if job.book.is_ftp or options.parts < 2 or not options.preconnect:
        return 0
    key = job.host_key
    others = (other for other in jobs if other is not job and not other.state.is_over)
    if any(other.host_key == key for other in others):
        return 0
    free = min(scheduler.host(key).available, scheduler.total.available)
    return max(0, min(options.parts - 1, free))
