"""Which waiting download gets the next free connection slot.

Deciding is apart from doing, in the manner of httpcore's connection pool:
``grants`` only decides, from the slot counts, which downloads may start one
transfer each; the Downloader then starts them and tells the scheduler which
transfer holds each slot. Nothing here starts, stops or calls anything.

Slots are held by transfers (the borrowers) in two limiters at once: the
file's host (``max_host_connections``, which can be lowered or raised while
running) and the whole Downloader (``max_connections``). Waiting downloads
are kept per host in insertion order with O(1) membership and are served by
rank (planned ranges, then new files, then splits of the file that would
finish last), round-robin within a rank. Files not started yet are served in
order and never sorted: a grant costs O(started files), however many wait.

A connection this side closes in the middle of a body (a range cut short
where another took over, a cancelled file) still counts at the server until
the server notices: its slot lingers a moment (``release(..., linger=)``)
so that the cap holds where it is counted, at the server.

With ``leased=True`` a host has no slot until one is given from outside
(``set_ceiling``: the leases of a cap shared with other processes, one per
connection).

A slot taken outside the line (a directory listing's) is waited for with
``when_free``: a callback called once when one of the host's slots may have
freed. The scheduler only calls it; the waiter sets its own event.
"""

from __future__ import annotations

import enum
import heapq
import itertools
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from .limiter import LimiterStatistics, SlotLimiter

__all__ = ["Scheduler", "Waiter"]


class Keyed(Protocol):
    """Anything that takes a host's slots: a download, a directory listing."""

    @property
    def host_key(self) -> str: ...


class Waiter(Protocol):
    """A download as the scheduler sees it."""

    @property
    def host_key(self) -> str: ...

    @property
    def rank(self) -> tuple[int, float]:
        """Lower ranks are served first; equal ranks round-robin."""
        ...


W = TypeVar("W", bound=Waiter)


def _rank(waiter: Waiter) -> tuple[int, float]:
    return waiter.rank


class Rank(enum.IntEnum):
    """What a waiter asks a slot for, first served first (a rank's first part)."""

    PLANNED = 0  # a range its file has planned (or a date to ask)
    NEW = 1  # a file that has not started: the queue of a batch
    SPLIT = 2  # a split of a running file, the one that would finish last first


@dataclass
class _Host(Generic[W]):
    limiter: SlotLimiter
    # Ordered sets. ``new``: files waiting for their first slot, served in
    # order (a batch may queue thousands: never sorted); ``started``: files
    # that run and want more, at most one per running file, sorted by rank.
    new: dict[W, None] = field(default_factory=dict)
    started: dict[W, None] = field(default_factory=dict)

    def line(self, count: int) -> list[W]:
        """The first ``count`` waiters by rank: started files with planned
        ranges, then new files in order, then splits (the slowest first)."""
        ranked = sorted(self.started, key=_rank)  # stable: equal ranks keep their turn
        ahead = [w for w in ranked if w.rank[0] <= Rank.NEW]
        chosen = ahead[:count]
        for waiter in self.new:
            if len(chosen) >= count:
                break
            chosen.append(waiter)
        if len(chosen) < count:
            chosen += [w for w in ranked if w.rank[0] > Rank.NEW][: count - len(chosen)]
        return chosen

    def leave(self, waiter: W) -> None:
        self.new.pop(waiter, None)
        self.started.pop(waiter, None)


class Scheduler(Generic[W]):
    """Slot bookkeeping and the round-robin decision (see the module docstring)."""

    def __init__(
        self, max_connections: int, max_host_connections: int, *, leased: bool = False
    ) -> None:
        self.total = SlotLimiter(max_connections)
        self.max_host_connections = max_host_connections
        self.leased = leased
        self._hosts: dict[str, _Host[W]] = {}
        self._held: dict[str, float] = {}  # host -> when its lowered limit last moved
        self._paused: dict[str, float] = {}  # host -> no new connection before this time
        self._served: dict[str, float] = {}  # host -> when a transfer last ended cleanly
        # Slots of connections closed mid-body: (free again at, order, host, borrower).
        self._lingering: list[tuple[float, int, str, Hashable]] = []
        self._lingering_on: dict[str, int] = {}  # host -> how many of its slots linger
        self._lingerers: set[Hashable] = set()  # the borrowers of those slots
        # host -> slots granted from outside (leases of a cap shared by processes).
        self._ceilings: dict[str, int] = {}
        self._order = itertools.count()
        # host -> callbacks of those waiting for one of its slots outside the
        # line (listings), each called once when one may have freed.
        self._slot_waiters: dict[str, list[Callable[[], None]]] = {}

    def host(self, key: str) -> SlotLimiter:
        """The limiter of host ``key`` (``limiter.total`` may be changed live)."""
        return self._host(key).limiter

    def _host(self, key: str) -> _Host[W]:
        host = self._hosts.get(key)
        if host is None:
            host = self._hosts[key] = _Host[W](SlotLimiter(self._most(key)))
        return host

    def _most(self, key: str) -> int:
        ceiling = self._ceilings.get(key)
        if ceiling is not None:
            return ceiling
        return 0 if self.leased else self.max_host_connections

    def set_ceiling(self, key: str, slots: int) -> None:
        """At most ``slots`` (>= 0) connections to host ``key``: the leases
        this process holds of a cap shared with others. A host held down by
        refusals stays down (the leases above it are parked); one that is
        not takes the new level."""
        limiter = self.host(key)
        before = limiter.total
        self._ceilings[key] = max(0, min(slots, self.max_host_connections))
        most = self._most(key)
        if key in self._held:
            limiter.total = min(limiter.total, most)
        else:
            limiter.total = most
        if limiter.total > before:
            self._freed(key)

    def want(self, waiter: W) -> None:
        """``waiter`` has a transfer to start when a slot is free (idempotent)."""
        host = self._host(waiter.host_key)
        if waiter in host.new or waiter in host.started:
            return
        (host.new if waiter.rank[0] == Rank.NEW else host.started)[waiter] = None

    def forget(self, waiter: W) -> None:
        host = self._hosts.get(waiter.host_key)
        if host is not None:
            host.leave(waiter)

    def is_waiting(self, waiter: W) -> bool:
        host = self._hosts.get(waiter.host_key)
        return host is not None and (waiter in host.new or waiter in host.started)

    def held_down(self, key: str) -> bool:
        """Whether refusals hold host ``key`` below its ceiling now."""
        return key in self._held and self.host(key).total < self._most(key)

    def hosts(self) -> list[str]:
        """Every host seen."""
        return list(self._hosts)

    def slots_taken(self, key: str) -> int:
        """Slots of host ``key`` taken (lingering ones included: the server
        still counts their connections)."""
        host = self._hosts.get(key)
        return host.limiter.borrowed if host is not None else 0

    def new_waiting(self, key: str) -> int:
        """Files of host ``key`` waiting for their first slot."""
        host = self._hosts.get(key)
        return len(host.new) if host is not None else 0

    def grants(self, now: float) -> list[W]:
        """Waiters that may each start one transfer now, fairly across hosts
        and files. Granted waiters leave the line; one that wants another
        slot after its transfer started ``want``s again, at the back."""
        self.expire(now)
        free_total = self.total.available
        chosen: list[W] = []
        for key, host in self._hosts.items():
            if free_total <= 0:
                break
            if self._paused and self._paused.get(key, 0.0) > now:
                continue  # it asked for time (Retry-After)
            count = min(host.limiter.available, free_total, len(host.new) + len(host.started))
            if not count:
                continue
            for waiter in host.line(count):
                host.leave(waiter)  # wanting more, it comes back at the end: round-robin
                chosen.append(waiter)
            free_total -= count
        return chosen

    def acquire(self, waiter: Keyed, borrower: Hashable) -> bool:
        host = self._host(waiter.host_key).limiter
        if not self.total.try_acquire(borrower):
            return False
        if not host.try_acquire(borrower):
            self.total.release(borrower)
            return False
        return True

    def release(
        self, waiter: Keyed, borrower: Hashable, *, linger: float = 0.0, now: float = 0.0
    ) -> None:
        """``borrower``'s connection is gone; with ``linger`` its slot stays
        taken until ``now + linger`` (the server has yet to see it close)."""
        host = self._host(waiter.host_key).limiter
        if not host.holds(borrower) or borrower in self._lingerers:
            # Given back already (a transfer that failed its file ends on
            # libcurl, then is retired with the file): counted once.
            return
        if linger > 0:
            self._lingerers.add(borrower)
            entry = (now + linger, next(self._order), waiter.host_key, borrower)
            heapq.heappush(self._lingering, entry)
            self._lingering_on[waiter.host_key] = self._lingering_on.get(waiter.host_key, 0) + 1
            return
        host.release(borrower)
        self.total.release(borrower)
        if self._slot_waiters:
            self._freed(waiter.host_key)

    def expire(self, now: float) -> None:
        """Free the lingering slots whose time is up."""
        lingering = self._lingering
        while lingering and lingering[0][0] <= now:
            _, _, key, borrower = heapq.heappop(lingering)
            self._lingerers.discard(borrower)
            left = self._lingering_on[key] - 1
            if left:
                self._lingering_on[key] = left
            else:
                del self._lingering_on[key]
            host = self._host(key).limiter
            if host.holds(borrower):
                host.release(borrower)
                self.total.release(borrower)
                if self._slot_waiters:
                    self._freed(key)

    def next_expiry(self) -> float | None:
        """When the first lingering slot is due (None: none lingers); it is
        freed by the first ``expire`` or ``grants`` from then on."""
        return self._lingering[0][0] if self._lingering else None

    def hold(self, key: str, now: float, pause: float = 0.0) -> None:
        """Host ``key`` refused one more connection: hold it to the slots in
        use (never below one) instead of failing or trying again and again;
        ``pause``: seconds it asked for (Retry-After) before any new one."""
        limiter = self.host(key)
        limiter.total = min(self._most(key), max(1, min(limiter.total, self._in_use(key))))
        self._held[key] = now
        if pause > 0:
            self._paused[key] = max(self._paused.get(key, 0.0), now + pause)

    def served(self, key: str, now: float) -> None:
        """A transfer of host ``key`` ended cleanly."""
        self._served[key] = now

    def serving(self, key: str, now: float, within: float = 60.0) -> bool:
        """Whether host ``key`` serves this run: a connection to it is in use,
        or one ended cleanly within ``within`` seconds. Its refusals then
        mean "not now", not "never"."""
        if self._in_use(key):
            return True
        return now - self._served.get(key, -within) < within

    def _in_use(self, key: str) -> int:
        """Connections of host ``key`` that are open on this side; a lingering
        slot counts at the server but serves nothing."""
        host = self._hosts.get(key)
        if host is None:
            return 0
        return host.limiter.borrowed - self._lingering_on.get(key, 0)

    def paused_until(self, key: str) -> float:
        """When host ``key`` takes new connections again (0: it does now)."""
        return self._paused.get(key, 0.0)

    def recover(self, now: float, period: float) -> None:
        """Probe upwards: a held host quiet for ``period`` seconds since its
        limit last moved gets one slot back, up to ``max_host_connections``."""
        for key, since in list(self._held.items()):
            if now - since < period:
                continue
            limiter = self.host(key)
            if limiter.total >= self._most(key):
                del self._held[key]
                continue
            limiter.total += 1
            self._held[key] = now
            self._freed(key)

    def when_free(self, key: str, callback: Callable[[], None]) -> None:
        """Call ``callback`` once, when a slot of host ``key`` may have freed
        (a release, a lingering slot due, a higher ceiling or limit; a slot
        of another host too while the Downloader's own cap is full), or at
        ``wake(key)``. Another waiter may take the slot first."""
        self._slot_waiters.setdefault(key, []).append(callback)

    def stop_waiting(self, key: str, callback: Callable[[], None]) -> None:
        """``callback`` is not to be called (its waiter got a slot or left)."""
        waiting = self._slot_waiters.get(key)
        if waiting is not None and callback in waiting:
            waiting.remove(callback)
            if not waiting:
                del self._slot_waiters[key]

    def wake(self, key: str) -> None:
        """Call the waiters of ``key`` now: something else they wait on
        changed (a lease of the host could not be had)."""
        for callback in self._slot_waiters.pop(key, ()):
            callback()

    def _freed(self, key: str) -> None:
        if self.total.available == 1:  # the Downloader's cap was full: every host's waiters
            for other in list(self._slot_waiters):
                self.wake(other)
        else:
            self.wake(key)

    def statistics(self) -> dict[str, LimiterStatistics]:
        """Per host, and ``"*"`` for the whole Downloader (for tests)."""
        stats = {key: host.limiter.statistics() for key, host in self._hosts.items()}
        stats["*"] = self.total.statistics()
        return stats
