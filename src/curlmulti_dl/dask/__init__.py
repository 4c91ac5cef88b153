"""A batch spread over a Dask cluster under one per-host cap (the ``dask`` extra).

``fetch_on_cluster(client, items, dest_dir, max_host_connections=30)`` cuts
the items into chunks of files, runs each chunk as an async task with
``fetch_many`` on a worker's own Downloader (``DownloaderPlugin``), and
yields each file's ``DownloadResult`` as chunks end. Each connection to a
host holds a lease of one ``distributed.Semaphore`` per host
(``SemaphoreLeases``, from ``curlmulti_dl.leases``), taken before it opens
and given back once it is closed.
Nothing here is imported by ``curlmulti_dl`` itself.
"""

from __future__ import annotations

from ..leases import HostLeases, LocalLeases, SemaphoreLeases
from .cluster import ClusterBatch, fetch_on_cluster
from .worker import DownloaderPlugin

__all__ = [
    "ClusterBatch",
    "DownloaderPlugin",
    "HostLeases",
    "LocalLeases",
    "SemaphoreLeases",
    "fetch_on_cluster",
]
