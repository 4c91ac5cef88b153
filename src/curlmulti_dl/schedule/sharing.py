"""How files given together share their host's free slots. Pure arithmetic
over the running downloads: asked inside libcurl's write callback, never
blocking and never starting anything."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from typing import Any, Protocol, TypeVar

from .scheduler import Scheduler

__all__ = ["Sharer", "connections_to_open_ahead", "share_of_free_slots", "unplanned_on"]


class Sharer(Protocol):
    """A file as the sharing of slots sees it."""

    @property
    def host_key(self) -> str: ...

    @property
    def is_over(self) -> bool: ...

    @property
    def queued(self) -> bool:
        """It waits for its first slot (the scheduler counts those)."""
        ...

    @property
    def planned(self) -> bool:
        """Its first answer was applied: its ranges are in line."""
        ...

    @property
    def share_promised(self) -> bool:
        """Its share of the free slots was fixed, its plan not applied yet."""
        ...

    @property
    def slots_spoken_for(self) -> int:
        """Free slots its plan will take: ranges in line, promised ones beyond its first."""
        ...

    @property
    def wants_ahead(self) -> int:
        """Connections it would open ahead (HTTP: one per part beyond the first)."""
        ...


S = TypeVar("S", bound=Sharer)


def share_of_free_slots(job: S, started: Iterable[S], scheduler: Scheduler[Any]) -> int:
    """How many connections ``job`` may start on: its own, plus an even share
    of the host's free slots among the files not planned yet (those waiting
    for their first slot, counted by the scheduler, and the ``started`` ones
    whose plan is not in line yet).

    Files given together thus split the host's sessions between them instead
    of each planning ``parts`` ranges that would queue for logins; slots freed
    later go to the file that would finish last (the scheduler's rank).
    """
    key = job.host_key
    free = min(scheduler.host(key).available, scheduler.total.available)
    unplanned = 1 + scheduler.new_waiting(key)
    for other in started:
        if other is job or other.host_key != key or other.queued:
            continue
        free -= other.slots_spoken_for
        if not other.share_promised and not other.planned and not other.is_over:
            unplanned += 1
    return 1 + -(-max(0, free) // unplanned)


def unplanned_on(key: str, started: Iterable[Sharer], scheduler: Scheduler[Any]) -> bool:
    """Whether a file of host ``key`` has yet to queue its planned ranges (its
    share may be promised, but its ranges are not in line yet): splits wait."""
    if scheduler.new_waiting(key):
        return True
    return any(job.host_key == key and not job.planned for job in started if not job.is_over)


def connections_to_open_ahead(
    job: S,
    jobs: Collection[S],
    scheduler: Scheduler[Any],
    warm: Callable[[str | None], int],
) -> int:
    """How many connections to open for ``job``'s later ranges while its first
    request is out (asked once it holds its slot): one per part beyond the
    first, within the free slots, and only for an HTTP file alone in its
    Downloader, so that files given together never open more than their slots.
    ``warm(host)``: connections already opened ahead (None: for every host),
    which hold no slot yet and so are taken off the free ones. FTP sessions
    are priced per login (``HostProfile``) and are not opened ahead."""
    wanted = job.wants_ahead
    if not wanted:
        return 0
    if job not in jobs or job.is_over:  # ended (cancelled) before its turn came
        return 0
    # Alone in the Downloader, not only on its host: the slots another file
    # is granted do not see connections opened ahead (they hold no slot).
    if any(other is not job and not other.is_over for other in jobs):
        return 0
    key = job.host_key
    free = min(scheduler.host(key).available - warm(key), scheduler.total.available - warm(None))
    return max(0, min(wanted, free))
