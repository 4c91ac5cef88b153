"""Where a per-host cap shared by several processes gives out its leases.

A Downloader made with ``connection_leases=`` holds one lease per connection
it keeps open to a host: it takes one before a connection is opened and
gives it back once the connection is closed (``LeaseBook`` decides when).
A lease source is two methods: ``SemaphoreLeases`` (``curlmulti_dl.dask``,
a Dask cluster's scheduler) and ``LocalLeases`` (the Downloaders of one event
loop) are the adapters here; one for Ray or Redis is the same two methods.

Example::

    leases = LocalLeases(cap=30)
    async with Downloader(connection_leases=leases) as a, \\
               Downloader(connection_leases=leases) as b:
        ...   # a and b together: at most 30 connections per host
"""

from __future__ import annotations

from collections import Counter
from typing import Protocol

import anyio

__all__ = ["HostLeases", "LocalLeases"]


class HostLeases(Protocol):
    async def take(self, host: str) -> None:
        """Wait until one lease of ``host`` ("host:port") is free and take it."""
        ...

    async def give_back(self, host: str, count: int) -> None:
        """Return ``count`` leases of ``host`` taken before."""
        ...


class LocalLeases:
    """Leases counted in this process (asyncio or trio): ``cap`` per host,
    handed out in the order they were asked for."""

    def __init__(self, cap: int) -> None:
        if cap < 1:
            raise ValueError("cap must be >= 1")
        self.cap = cap
        self.taken: Counter[str] = Counter()
        self.most_taken: Counter[str] = Counter()  # the most held at once, per host
        self._waiting: dict[str, list[anyio.Event]] = {}  # set: granted

    async def take(self, host: str) -> None:
        queue = self._waiting.setdefault(host, [])
        if self.taken[host] < self.cap and not queue:
            self._grant(host)
            return
        turn = anyio.Event()
        queue.append(turn)
        try:
            await turn.wait()
        except BaseException:  # cancelled: a lease granted meanwhile goes to the next
            if turn.is_set():
                self.taken[host] -= 1
                self._serve(host)
            else:
                queue.remove(turn)
            raise

    async def give_back(self, host: str, count: int) -> None:
        if count > self.taken[host]:
            raise RuntimeError(f"{count} leases of {host} given back, {self.taken[host]} taken")
        self.taken[host] -= count
        self._serve(host)

    def _grant(self, host: str) -> None:
        self.taken[host] += 1
        self.most_taken[host] = max(self.most_taken[host], self.taken[host])

    def _serve(self, host: str) -> None:
        queue = self._waiting.get(host, [])
        while queue and self.taken[host] < self.cap:
            self._grant(host)
            queue.pop(0).set()
