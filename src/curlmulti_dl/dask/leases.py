"""Connection leases of a per-host cap shared by several processes.

A process takes leases for a host before its Downloader opens connections
to it and gives them back once its connections to the host are closed, so
the cap holds at the server, idle kept connections included. The Downloader
sees only a number (``Downloader.set_host_ceiling``); where leases come from
is an adapter: ``SemaphoreLeases`` (a Dask cluster's scheduler) or
``LocalLeases`` (the processes of one event loop, for tests and for one
machine). A Ray or Redis adapter is the same two methods.

Example::

    leases = LocalLeases(cap=30)
    held = await leases.take("ftp.example.org:21", wanted=8)   # 1 to 8
    ...
    await leases.give_back("ftp.example.org:21", held)
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
from collections import Counter
from typing import Any, Protocol

__all__ = ["HostLeases", "LocalLeases", "SemaphoreLeases", "semaphore_name"]


class HostLeases(Protocol):
    async def take(self, host: str, wanted: int) -> int:
        """Wait for one lease of ``host``, then take up to ``wanted`` in all
        of those free now; returns how many were taken (>= 1)."""
        ...

    async def give_back(self, host: str, count: int) -> None:
        """Return ``count`` leases of ``host`` taken before."""
        ...


class LocalLeases:
    """Leases counted in this process (one event loop)."""

    def __init__(self, cap: int) -> None:
        if cap < 1:
            raise ValueError("cap must be >= 1")
        self.cap = cap
        self._taken: Counter[str] = Counter()
        self._freed = asyncio.Event()
        self.most_taken: Counter[str] = Counter()  # for tests

    async def take(self, host: str, wanted: int) -> int:
        while self._taken[host] >= self.cap:
            self._freed.clear()
            await self._freed.wait()
        count = max(1, min(wanted, self.cap - self._taken[host]))
        self._taken[host] += count
        self.most_taken[host] = max(self.most_taken[host], self._taken[host])
        return count

    async def give_back(self, host: str, count: int) -> None:
        self._taken[host] -= count
        self._freed.set()


def load_distributed() -> Any:
    """distributed, untyped: imported when a lease is first needed."""
    return importlib.import_module("distributed")


def semaphore_name(host: str) -> str:
    return f"curlmulti_dl:host:{host}"


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


class SemaphoreLeases:
    """Leases of ``distributed.Semaphore``s, one per host, of ``cap`` leases
    each, created by the client before the batch (``max_leases`` cannot
    change once created). A lease whose holder dies comes back after the
    scheduler's lease timeout (``distributed.scheduler.locks.lease-timeout``,
    30 s by default)."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self._semaphores: dict[str, Any] = {}

    def _semaphore(self, host: str) -> Any:
        semaphore = self._semaphores.get(host)
        if semaphore is None:
            semaphore = load_distributed().Semaphore(max_leases=self.cap, name=semaphore_name(host))
            self._semaphores[host] = semaphore
        return semaphore

    async def take(self, host: str, wanted: int) -> int:
        semaphore = self._semaphore(host)
        await _maybe_await(semaphore.acquire())
        taken = 1
        while taken < wanted and await _maybe_await(semaphore.acquire(timeout=0.01)):
            taken += 1
        return taken

    async def give_back(self, host: str, count: int) -> None:
        semaphore = self._semaphore(host)
        for _ in range(count):
            await _maybe_await(semaphore.release())
