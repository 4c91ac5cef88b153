"""Connection leases from a Dask cluster's scheduler: one
``distributed.Semaphore`` per host, of ``cap`` leases, shared by every worker.

The adapter of ``HostLeases`` (``leases.source``) that each
worker's Downloader takes a lease from before it opens a connection and gives
it back to once the connection is closed. ``max_leases`` cannot change once
a semaphore exists (registering its name again with another value raises):
a host refusals hold down parks leases instead (``LeaseBook``). A lease whose
holder stops heartbeating comes back after the scheduler's lease timeout
(``distributed.scheduler.locks.lease-timeout``, 30 s by default).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import inspect
from typing import Any

__all__ = ["SemaphoreLeases", "load_distributed", "semaphore_name"]

#: Seconds of one wait at the scheduler: how long a withdrawn request (its
#: files no longer want the connection) may take to end.
_WAIT = 1.0


def load_distributed() -> Any:
    """distributed, untyped: imported when a lease is first needed."""
    return importlib.import_module("distributed")


def semaphore_name(host: str) -> str:
    return f"curlmulti_dl:host:{host}"


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


class SemaphoreLeases:
    """``cap`` leases per host ("host:port") across the cluster."""

    def __init__(self, cap: int) -> None:
        if cap < 1:
            raise ValueError("cap must be >= 1")
        self.cap = cap
        self._semaphores: dict[str, Any] = {}

    def _semaphore(self, host: str) -> Any:
        semaphore = self._semaphores.get(host)
        if semaphore is None:
            semaphore = load_distributed().Semaphore(max_leases=self.cap, name=semaphore_name(host))
            self._semaphores[host] = semaphore
        return semaphore

    async def take(self, host: str) -> None:
        semaphore = self._semaphore(host)
        while True:
            attempt = asyncio.ensure_future(_maybe_await(semaphore.acquire(timeout=_WAIT)))
            try:
                got = await asyncio.shield(attempt)
            except asyncio.CancelledError:
                # Withdrawn with the request out: a lease it brings back would
                # be nobody's (unrefreshed, it would count until the lease
                # timeout), so it goes back at once.
                with contextlib.suppress(Exception):
                    if await attempt:
                        await _maybe_await(semaphore.release())
                raise
            if got:
                return

    async def give_back(self, host: str, count: int) -> None:
        semaphore = self._semaphore(host)
        for _ in range(count):
            await _maybe_await(semaphore.release())
