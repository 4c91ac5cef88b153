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
finish last), round-robin within a rank.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from .limiter import LimiterStatistics, SlotLimiter

__all__ = ["Scheduler", "Waiter"]


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


@dataclass
class _Host(Generic[W]):
    limiter: SlotLimiter
    waiting: dict[W, None] = field(default_factory=dict)  # an ordered set


class Scheduler(Generic[W]):
    """Slot bookkeeping and the round-robin decision (see the module docstring)."""

    def __init__(self, max_connections: int, max_host_connections: int) -> None:
        self.total = SlotLimiter(max_connections)
        self.max_host_connections = max_host_connections
        self._hosts: dict[str, _Host[W]] = {}
        self._held: dict[str, float] = {}  # host -> when its lowered limit last moved
        self._paused: dict[str, float] = {}  # host -> no new connection before this time
        self._served: dict[str, float] = {}  # host -> when a transfer last ended cleanly

    def host(self, key: str) -> SlotLimiter:
        """The limiter of host ``key`` (``limiter.total`` may be changed live)."""
        return self._host(key).limiter

    def _host(self, key: str) -> _Host[W]:
        host = self._hosts.get(key)
        if host is None:
            host = self._hosts[key] = _Host[W](SlotLimiter(self.max_host_connections))
        return host

    def want(self, waiter: W) -> None:
        """``waiter`` has a transfer to start when a slot is free (idempotent)."""
        self._host(waiter.host_key).waiting.setdefault(waiter, None)

    def forget(self, waiter: W) -> None:
        host = self._hosts.get(waiter.host_key)
        if host is not None:
            host.waiting.pop(waiter, None)

    def is_waiting(self, waiter: W) -> bool:
        host = self._hosts.get(waiter.host_key)
        return host is not None and waiter in host.waiting

    def grants(self, now: float) -> list[W]:
        """Waiters that may each start one transfer now, fairly across hosts
        and files. Granted waiters move to the back of their host's line."""
        free_total = self.total.available
        chosen: list[W] = []
        for key, host in self._hosts.items():
            if free_total <= 0:
                break
            if self._paused and self._paused.get(key, 0.0) > now:
                continue  # it asked for time (Retry-After)
            count = min(host.limiter.available, free_total, len(host.waiting))
            if not count:
                continue
            # sorted() is stable: equal ranks keep their round-robin order.
            for waiter in sorted(host.waiting, key=_rank)[:count]:
                del host.waiting[waiter]
                host.waiting[waiter] = None  # to the back: round-robin
                chosen.append(waiter)
            free_total -= count
        return chosen

    def acquire(self, waiter: W, borrower: Hashable) -> bool:
        host = self._host(waiter.host_key).limiter
        if not self.total.try_acquire(borrower):
            return False
        if not host.try_acquire(borrower):
            self.total.release(borrower)
            return False
        return True

    def release(self, waiter: W, borrower: Hashable) -> None:
        host = self._host(waiter.host_key).limiter
        if host.holds(borrower):
            host.release(borrower)
            self.total.release(borrower)

    def hold(self, key: str, now: float, pause: float = 0.0) -> None:
        """Host ``key`` refused one more connection: hold it to the slots in
        use (never below one) instead of failing or trying again and again;
        ``pause``: seconds it asked for (Retry-After) before any new one."""
        limiter = self.host(key)
        limiter.total = max(1, min(limiter.total, limiter.borrowed))
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
        host = self._hosts.get(key)
        if host is not None and host.limiter.borrowed:
            return True
        return now - self._served.get(key, -within) < within

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
            if limiter.total >= self.max_host_connections:
                del self._held[key]
                continue
            limiter.total += 1
            self._held[key] = now

    def statistics(self) -> dict[str, LimiterStatistics]:
        """Per host, and ``"*"`` for the whole Downloader (for tests)."""
        stats = {key: host.limiter.statistics() for key, host in self._hosts.items()}
        stats["*"] = self.total.statistics()
        return stats
