"""The client's side: items read lazily, cut into chunks, results as chunks end."""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Iterable, Iterator
from typing import Any

from .._batch import BatchSummary, Item, failed_result
from .._exceptions import DownloadError
from .._progress import DownloadResult
from ..leases.semaphore import load_distributed
from .worker import PLUGIN_NAME, DownloaderPlugin, run_chunk

__all__ = ["ClusterBatch", "fetch_on_cluster"]


class ClusterBatch:
    """An iterator of ``DownloadResult`` as the cluster's chunks end, with
    ``summary`` (a ``BatchSummary``) counting what came back so far."""

    def __init__(self, results: Iterator[DownloadResult]) -> None:
        self.summary = BatchSummary()
        self._results = results

    def __iter__(self) -> Iterator[DownloadResult]:
        for result in self._results:
            self.summary.add(result)
            yield result
        self.summary.ended_at = self.summary.ended_at or time.monotonic()


def fetch_on_cluster(
    client: Any,
    items: Iterable[Item],
    dest_dir: str | os.PathLike[str],
    *,
    max_host_connections: int = 16,
    per_worker: int | None = None,
    chunk_size: int = 200,
    chunks_in_flight: int | None = None,
    downloader: dict[str, Any] | None = None,
    **options: Any,
) -> ClusterBatch:
    """Download ``items`` (URLs or ``DownloadRequest``, read lazily) into
    ``dest_dir`` (a directory every worker sees: a shared POSIX file system)
    on the workers of ``client``, ``chunk_size`` files per task, with at
    most ``max_host_connections`` connections per host across the cluster
    (a lease of a ``distributed.Semaphore`` per host for each connection,
    taken before it opens and given back once it is closed; at most
    ``per_worker`` of them on one worker, default: the cap divided among the
    workers, rounded up, so that each one keeps working).
    ``options`` are ``fetch_many``'s; ``downloader`` the keywords of each
    worker's ``Downloader``. Iterate the result for each file's
    ``DownloadResult`` as its chunk ends; failures are results.

    Example::

        from distributed import Client
        client = Client("tcp://scheduler:8786")
        batch = fetch_on_cluster(client, open("urls.txt"), "/shared/data",
                                 max_host_connections=30, parts=4)
        for result in batch:
            print(result.path if result.ok else result.error)
        print(batch.summary)
    """
    if max_host_connections < 1 or chunk_size < 1:
        raise ValueError("max_host_connections and chunk_size must be >= 1")
    workers = max(1, len(client.nthreads()))
    share = per_worker or -(-max_host_connections // workers)
    plugin = DownloaderPlugin(max_host_connections, min(share, max_host_connections),
                              dict(downloader or {}))  # fmt: skip
    client.register_plugin(plugin, name=PLUGIN_NAME)
    in_flight = chunks_in_flight or 2 * workers
    return ClusterBatch(_run(client, iter(items), str(dest_dir), chunk_size, in_flight, options))


def _run(client: Any, items: Iterator[Item], dest_dir: str, chunk_size: int, in_flight: int,
         options: dict[str, Any]) -> Iterator[DownloadResult]:  # fmt: skip
    distributed = load_distributed()

    def submit() -> Any | None:
        chunk = list(itertools.islice(items, chunk_size))
        if not chunk:
            return None
        future = client.submit(run_chunk, chunk, dest_dir, options, pure=False)
        chunks[future.key] = chunk
        return future

    chunks: dict[str, list[Item]] = {}
    running = distributed.as_completed()
    for _ in range(in_flight):
        future = submit()
        if future is None:
            break
        running.add(future)
    for future in running:
        chunk = chunks.pop(future.key)
        try:
            results: list[DownloadResult] = future.result()
        except Exception as exc:  # the task itself failed (not a file): every file did
            results = [_failed(item, exc) for item in chunk]
        yield from results
        following = submit()
        if following is not None:
            running.add(following)


def _failed(item: Item, exc: BaseException) -> DownloadResult:
    url = item if isinstance(item, str) else item.url
    error = exc if isinstance(exc, DownloadError) else DownloadError(
        f"the cluster task failed: {type(exc).__name__}: {exc}", url=url)  # fmt: skip
    return failed_result(url, None, error)
