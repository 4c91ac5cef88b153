"""A Downloader's directory listings: each request on one of its host's slots.

A listing is no file: it takes a slot of its host outside the scheduler's
line, for as long as one request runs (an S3 prefix one ListObjectsV2 page
per request, never while its page waits to be taken), and waits for a slot
on an event the scheduler's ``when_free`` sets, never by polling. The
requests themselves are the engine's (``engine.directories``,
``engine.s3access``, ``engine.listing``).

On FTP a listing made for a batch logs the host's other free slots in
meanwhile (``log_in_ahead``): the listing's round trips overlap the logins
of the sessions its files will take from libcurl's cache.
"""

from __future__ import annotations

import contextlib
import functools
import math
import time
from collections import Counter
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Coroutine
from typing import Any

import anyio

from ._config import DownloadOptions
from ._exceptions import DownloadError
from .engine.directories import read_directory
from .engine.listing import fetch_listing
from .engine.multi import CurlBridge
from .engine.runtime import LoopFuture, cancel_and_wait
from .engine.s3access import PAGE_LIMIT, list_s3, s3_request
from .engine.sockets import SocketRegistry
from .leases.connections import ConnectionLeases, lease_error
from .protocol.listing import Entry
from .protocol.s3 import is_s3
from .protocol.urls import parse_origin
from .schedule.profile import HostProfile
from .schedule.scheduler import Scheduler

__all__ = ["Listings"]


class _Lister:
    """A directory listing (or a log-in ahead) as the scheduler's slots see it."""

    def __init__(self, host_key: str) -> None:
        self.host_key = host_key


class Listings:
    """The listings of one Downloader (see the module docstring). ``pump``
    is the Downloader's: it asks for the leases listings wait for, and frees
    lingering slots that are due."""

    def __init__(
        self,
        scheduler: Scheduler[Any],
        sockets: SocketRegistry,
        profiles: dict[str, HostProfile],
        leasing: ConnectionLeases | None,
        pump: Callable[[], None],
    ) -> None:
        self._scheduler = scheduler
        self._sockets = sockets
        self._profiles = profiles
        self._leasing = leasing
        self._pump = pump
        self.waiting: Counter[str] = Counter()  # host -> listings waiting for a slot
        self._background: set[LoopFuture[None]] = set()  # the tasks logging in ahead

    async def pages(
        self, bridge: CurlBridge, url: str, opts: DownloadOptions, *, log_in_ahead: bool = False
    ) -> AsyncGenerator[list[Entry], None]:
        """The entries of directory ``url``, a page at a time (one page but
        for an S3 prefix)."""
        if is_s3(url):
            https, opts = s3_request(url, opts)
            key = parse_origin(https, directory=True).host_key

            async def fetch_page(page_url: str) -> bytes:
                async with self.slot(key, page_url):
                    return await fetch_listing(
                        bridge, page_url, opts, "GET", self._sockets, key, limit=PAGE_LIMIT
                    )

            async with contextlib.aclosing(list_s3(url, opts, fetch_page)) as pages:
                async for page in pages:
                    yield page
            return
        origin = parse_origin(url, directory=True)
        key = origin.host_key
        profile = self._profiles.setdefault(key, HostProfile())
        fetch = functools.partial(fetch_listing, bridge, url, opts, sockets=self._sockets, host=key)
        async with self.slot(key, url):
            if log_in_ahead and origin.is_ftp:
                self._log_in_ahead(bridge, url, opts, profile, key)
            entries = await read_directory(fetch, url, origin, profile.ftp)
        yield entries

    @contextlib.asynccontextmanager
    async def slot(self, key: str, url: str) -> AsyncIterator[None]:
        """One of the host's slots, held while one listing request runs."""
        slot = _Lister(key)
        self.waiting[key] += 1  # (the leases wanted count it)
        try:
            await self._wait_for(slot, url)
        finally:
            self.waiting[key] -= 1
            if not self.waiting[key]:
                del self.waiting[key]
        try:
            yield
        finally:
            self._scheduler.release(slot, slot)
            self._pump()

    async def _wait_for(self, slot: _Lister, url: str) -> None:
        # Listings come before their files are in line, so a slot is usually
        # free at once; else the scheduler says when one may have freed.
        scheduler, key = self._scheduler, slot.host_key
        while not scheduler.acquire(slot, slot):
            freed = anyio.Event()
            wake = freed.set
            scheduler.when_free(key, wake)  # before the pump: it may free one
            try:
                self._pump()  # asks for a lease if leased; frees lingering slots due
                error = self._leasing.unavailable(key) if self._leasing is not None else None
                if error is not None:
                    raise lease_error(url, error)
                if not freed.is_set():
                    # A lingering slot frees at its time, but only when
                    # someone looks (the tick, which an idle Downloader stops).
                    due = scheduler.next_expiry()
                    wait = math.inf if due is None else max(0.0, due - time.monotonic())
                    with anyio.move_on_after(wait):
                        await freed.wait()
            finally:
                scheduler.stop_waiting(key, wake)

    def _log_in_ahead(
        self,
        bridge: CurlBridge,
        url: str,
        opts: DownloadOptions,
        profile: HostProfile,
        key: str,
    ) -> None:
        """Sessions for the files of a listing, logged in while it runs: one
        per free slot of the host, each left in libcurl's cache, logged in
        and at the directory, for a file to take."""
        method = profile.ftp.file_method(opts.ftp_file_method)

        async def log_in(slot: _Lister) -> None:
            try:
                await fetch_listing(
                    bridge, url, opts, f"LOGIN:{method}", sockets=self._sockets, host=key
                )
                profile.session_kept()
            except DownloadError:
                pass  # a refusal or a failure here costs nothing: the files log in themselves
            finally:
                self._scheduler.release(slot, slot)
                self._pump()

        for _ in range(self._scheduler.host(key).available):
            slot = _Lister(key)
            if not self._scheduler.acquire(slot, slot):
                break
            self._spawn(bridge, log_in(slot))

    def _spawn(self, bridge: CurlBridge, work: Coroutine[Any, Any, None]) -> None:
        task = bridge.loop.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def aclose(self) -> None:
        """Stop the logins still running (the Downloader closes)."""
        await cancel_and_wait(list(self._background))
