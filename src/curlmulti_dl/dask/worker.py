"""What runs on a Dask worker: its one Downloader, its leases, the chunk task."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

from .._batch import DownloadRequest, Item
from .._downloader import Downloader
from .._exceptions import DownloadError
from .._progress import DownloadResult
from ..files.names import parse_origin
from ..protocol.s3 import is_s3
from .leases import HostLeases, SemaphoreLeases

__all__ = ["PLUGIN_NAME", "DownloaderPlugin", "HostCap", "host_of", "run_chunk"]

PLUGIN_NAME = "curlmulti_dl"


def host_of(item: Item) -> str | None:
    """The host budget an item draws from ("host:port"); None for ``s3://``,
    whose host is known only once resolved (not capped across workers)."""
    url = item.url if isinstance(item, DownloadRequest) else item
    if is_s3(url):
        return None
    try:
        return parse_origin(url, directory=True).host_key
    except DownloadError:
        return None  # fetch_many reports it as the item's result


class HostCap:
    """A process's share of the per-host caps: chunks of one host running
    here share the leases taken by the first of them; the last one to end
    closes the host's idle connections, then gives the leases back."""

    def __init__(self, downloader: Downloader, leases: HostLeases, per_process: int) -> None:
        self.downloader = downloader
        self.leases = leases
        self.per_process = per_process
        self._running: Counter[str] = Counter()
        self._held: dict[str, int] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def held(self, host: str) -> int:
        return self._held.get(host, 0)

    async def enter(self, host: str) -> None:
        async with self._locks.setdefault(host, asyncio.Lock()):
            if not self._running[host]:
                taken = await self.leases.take(host, self.per_process)
                self._held[host] = taken
                self.downloader.set_host_ceiling(host, taken)
            self._running[host] += 1

    async def leave(self, host: str) -> None:
        async with self._locks.setdefault(host, asyncio.Lock()):
            self._running[host] -= 1
            if self._running[host]:
                return
            # No download of this host runs here: what libcurl keeps open is
            # idle; the server must see it closed before the leases go back.
            if not self.downloader.busy_with(host):
                self.downloader.close_idle_connections(host)
            await self.leases.give_back(host, self._held.pop(host))


class DownloaderPlugin(WorkerPlugin):
    """One Downloader per worker, made on the worker's event loop when it
    starts and closed when it stops; ``cap`` leases per host across the
    cluster, at most ``per_worker`` of them on one worker."""

    name = PLUGIN_NAME

    def __init__(self, cap: int, per_worker: int, downloader: dict[str, Any]) -> None:
        self.cap = cap
        self.per_worker = per_worker
        self.downloader_options = downloader
        self.downloader: Downloader | None = None
        self.host_cap: HostCap | None = None

    async def setup(self, worker: Any) -> None:
        options = {"max_host_connections": self.per_worker, **self.downloader_options}
        self.downloader = Downloader(**options)
        await self.downloader.__aenter__()
        self.host_cap = HostCap(self.downloader, SemaphoreLeases(self.cap), self.per_worker)

    async def teardown(self, worker: Any) -> None:
        if self.downloader is not None:
            await self.downloader.aclose()


async def run_chunk(
    items: list[Item], dest_dir: str, options: dict[str, Any]
) -> list[DownloadResult]:
    """A Dask task: ``items`` by ``fetch_many`` on this worker's Downloader,
    within the leases of their hosts. Run twice (its worker died), it skips
    the files already complete and resumes the others."""
    from distributed import get_worker

    plugin = get_worker().plugins[PLUGIN_NAME]
    assert isinstance(plugin, DownloaderPlugin) and plugin.downloader and plugin.host_cap
    hosts = sorted({h for h in map(host_of, items) if h is not None})
    entered: list[str] = []
    try:
        for host in hosts:  # in one order everywhere: no two chunks wait on each other
            await plugin.host_cap.enter(host)
            entered.append(host)
        results = []
        async with plugin.downloader.fetch_many(items, dest_dir, **options) as batch:
            async for result in batch:
                results.append(result)
        return results
    finally:
        for host in entered:
            await plugin.host_cap.leave(host)
