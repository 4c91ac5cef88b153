"""What runs on a Dask worker: its one Downloader, and the chunk task."""

from __future__ import annotations

from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

from .._batch import Item
from .._downloader import Downloader
from .._progress import DownloadResult
from ..leases.semaphore import SemaphoreLeases

__all__ = ["PLUGIN_NAME", "DownloaderPlugin", "run_chunk"]

PLUGIN_NAME = "curlmulti_dl"


class DownloaderPlugin(WorkerPlugin):
    """One Downloader per worker, made on the worker's event loop when it
    starts and closed when it stops. Its connections to a host hold leases
    of the cluster's cap (``cap`` per host), at most ``per_worker`` here."""

    name = PLUGIN_NAME

    def __init__(self, cap: int, per_worker: int, downloader: dict[str, Any]) -> None:
        self.cap = cap
        self.per_worker = per_worker
        self.downloader_options = downloader
        self.downloader: Downloader | None = None

    async def setup(self, worker: Any) -> None:
        options = {"max_host_connections": self.per_worker, **self.downloader_options}
        self.downloader = Downloader(connection_leases=SemaphoreLeases(self.cap), **options)
        await self.downloader.__aenter__()

    async def teardown(self, worker: Any) -> None:
        if self.downloader is not None:
            await self.downloader.aclose()


async def run_chunk(
    items: list[Item], dest_dir: str, options: dict[str, Any]
) -> list[DownloadResult]:
    """A Dask task: ``items`` by ``fetch_many`` on this worker's Downloader.
    Run twice (its worker died), it skips the files already complete and
    resumes the others."""
    from distributed import get_worker

    plugin = get_worker().plugins[PLUGIN_NAME]
    assert isinstance(plugin, DownloaderPlugin) and plugin.downloader is not None
    async with plugin.downloader.fetch_many(items, dest_dir, **options) as batch:
        return [result async for result in batch]
