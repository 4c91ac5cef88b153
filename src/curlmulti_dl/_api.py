"""Module-level entry points: ``fetch`` (async) and ``download`` (sync)."""

from __future__ import annotations

import asyncio
import os
import weakref
from typing import Any

from ._downloader import Downloader
from ._progress import DownloadResult, ProgressCallback

__all__ = ["download", "fetch"]

_default_downloaders: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Downloader] = (
    weakref.WeakKeyDictionary()
)


def _default_downloader() -> Downloader:
    loop = asyncio.get_running_loop()
    downloader = _default_downloaders.get(loop)
    if downloader is None:
        downloader = _default_downloaders[loop] = Downloader()
    return downloader


async def fetch(
    url: str,
    dest: str | os.PathLike[str] | None = None,
    *,
    parts: int = 8,
    progress: ProgressCallback | None = None,
    **options: Any,
) -> DownloadResult:
    """Download ``url`` over ``parts`` connections into ``dest``.

    Concurrent calls on one event loop share one Downloader (one multi handle,
    one set of connection budgets).

    Example::

        result = await curlmulti_dl.fetch("https://example.org/big.nc", "/data", parts=8)
        print(result.path, result.size, result.speed)
    """
    return await _default_downloader().fetch(url, dest, parts=parts, progress=progress, **options)


def download(
    url: str,
    dest: str | os.PathLike[str] | None = None,
    *,
    parts: int = 8,
    progress: ProgressCallback | None = None,
    **options: Any,
) -> DownloadResult:
    """Blocking ``fetch`` for scripts.

    Inside a running event loop (a Jupyter cell) it runs in a worker thread
    with a loop of its own, so it neither blocks on nor disturbs that loop's
    tasks (the calling thread still waits for the result).

    Example::

        result = curlmulti_dl.download("ftp://host/pub/file.nc", parts=8)
    """

    async def run() -> DownloadResult:
        async with Downloader(**_downloader_kwargs(options)) as downloader:
            return await downloader.fetch(url, dest, parts=parts, progress=progress, **options)

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(run())
    import concurrent.futures  # only needed inside a running loop

    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="curlmulti_dl") as pool:
        return pool.submit(asyncio.run, run()).result()


_DOWNLOADER_KEYS = ("max_connections", "max_host_connections", "loop_budget", "multiplex")


def _downloader_kwargs(options: dict[str, Any]) -> dict[str, Any]:
    """Move the Downloader-level keywords out of the per-fetch options."""
    return {key: options.pop(key) for key in _DOWNLOADER_KEYS if key in options}
