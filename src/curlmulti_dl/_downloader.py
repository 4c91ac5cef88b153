"""``Downloader``: one CurlMulti, its connection slots, and the files it runs.

The Downloader is the face: it checks options, rewrites s3:// URLs, prepares
each file's destination and makes its ``FileDownload``, makes batches and
lists directories (``_listings``). Running the files (slots, transfers, the
tick, leases) is its ``Dispatcher``'s (``_dispatch``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncGenerator, AsyncIterable, Iterable
from typing import TYPE_CHECKING

from ._batch import Batch, Item
from ._config import FileOptions
from ._dispatch import Dispatcher
from ._expansion import Expansion
from ._keywords import DEFAULT_LOOP_BUDGET, BatchFileOptions, Options, check_options
from ._listings import Listings
from ._policy import RebalancePolicy
from ._progress import DownloadResult, ProgressCallback
from .engine.curlopts import configure_multi
from .engine.multi import CurlBridge
from .engine.runtime import Loop, running_loop
from .engine.s3access import s3_request
from .engine.sockets import SocketRegistry
from .engine.transfer import BudgetHooks
from .files.destination import Dest
from .files.target import prepare_target
from .job.driver import FileDownload
from .protocol.listing import Entry
from .protocol.urls import normalize_url, parse_origin
from .schedule.rates import PacedBudget, RateGate
from .schedule.scheduler import Scheduler

if TYPE_CHECKING:
    from typing_extensions import Unpack  # (typing's from Python 3.11)

__all__ = ["DEFAULT_LOOP_BUDGET", "Downloader"]


class Downloader:
    """Downloads files over many connections from one ``pycurl.CurlMulti``.

    ``max_connections`` caps connections overall, ``max_host_connections`` per
    host and port. A slot is taken before a transfer is handed to libcurl and
    given back when it ends; libcurl's own caps count idle cached connections
    too (``open_connections``).
    A host that refuses a connection (FTP 421, HTTP 429/503) is held to the
    connections it still serves; every ``limit_recovery`` seconds without a
    refusal it gets one slot back, up to ``max_host_connections``.
    ``loop_budget`` bounds the seconds spent in libcurl per event-loop
    iteration so that other tasks stay responsive; None disables it.
    ``connection_leases`` (a ``HostLeases``: ``LocalLeases``, or the Dask
    cluster's in ``curlmulti_dl.dask``) shares each host's cap with other
    Downloaders: one lease is taken per connection before it opens and given
    back once it is closed.
    The keywords of a file (``FileOptions``, see ``DownloadOptions``) are the
    defaults of every ``fetch``; ``rebalance`` tunes how work moves between
    connections. A bad value raises ``ValueError``, a keyword it does not
    take ``TypeError`` (``DownloaderOptions`` and ``FileOptions`` list them).

    Example::

        async with Downloader(max_host_connections=30) as dl:
            a = await dl.fetch("ftp://host/a.nc", parts=8)
            b = await dl.fetch("https://host/b.nc")
    """

    def __init__(self, **options: Unpack[Options]) -> None:
        checked = check_options(options, downloader=True)
        limits = checked.limits
        self.max_connections = limits.max_connections
        self.max_host_connections = max_host_connections = limits.max_host_connections
        self.loop_budget = limits.loop_budget
        # A host that refused a connection gets one slot back per quiet period.
        self.limit_recovery = limits.limit_recovery
        self.rebalance = limits.rebalance or RebalancePolicy()
        self.options = checked.file
        connection_leases = limits.connection_leases
        self.scheduler: Scheduler[FileDownload] = Scheduler(
            self.max_connections, max_host_connections, leased=connection_leases is not None
        )
        # One bucket for the run (and one per host) that every transfer's
        # write path draws from; None: no limit.
        rate, host_rate = limits.max_bytes_per_second, limits.max_host_bytes_per_second
        self._rate_gate = (
            RateGate(rate, host_rate) if rate is not None or host_rate is not None else None
        )
        self._bridge: CurlBridge | None = None
        self.sockets = SocketRegistry()
        if self._rate_gate is not None:
            self.sockets.receive_buffer = self._rate_gate.receive_window(max_host_connections)
        self._loop: Loop | None = None  # asyncio's running loop, or engine.runtime.TrioLoop
        self._closed = False
        self._dispatcher = dispatcher = Dispatcher(
            self.scheduler, self.sockets, connection_leases, max_host_connections,
            self.limit_recovery,
        )  # fmt: skip
        self._listings = Listings(
            self.scheduler, self.sockets, dispatcher.profiles, dispatcher.leasing, dispatcher.pump
        )
        dispatcher.listers_waiting = self._listings.waiting

    # --------------------------------------------------------------- lifecycle

    async def __aenter__(self) -> Downloader:
        self._ensure_bridge()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop every download still running (each raises
        ``DownloaderClosedError``) and release the multi handle."""
        self._closed = True
        self._dispatcher.close()
        await self._listings.aclose()
        if self._bridge is not None:
            # Cut the kept connections first: libcurl would end each cached FTP
            # session with a QUIT and wait for its answer, blocking the loop.
            self.sockets.shutdown_all()
            self._bridge.close()
            self._bridge = None
        leasing = self._dispatcher.leasing
        if leasing is not None:
            await leasing.aclose()
        self.sockets.close()

    def open_connections(self) -> dict[str, int]:
        """Sockets open now per host ("host:port"), idle cached ones included."""
        return dict(self.sockets.open_sockets())

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def bridge(self) -> CurlBridge:
        """The multi handle's driver (for tests and diagnostics)."""
        return self._ensure_bridge()

    def _ensure_bridge(self) -> CurlBridge:
        if self._closed:
            raise RuntimeError("the Downloader is closed")
        loop = running_loop()
        if self._bridge is None:
            self._loop = loop
            bridge = CurlBridge(loop, self.loop_budget)
            configure_multi(bridge.setopt, self.max_connections, self.max_host_connections)
            if self._dispatcher.leasing is not None:  # idle kept connections it may cut
                bridge.on_kept_connection = self.sockets.served
            self._bridge = bridge
            self._dispatcher.attach(bridge, loop)
        elif loop is not self._loop:
            raise RuntimeError("a Downloader is bound to the event loop it started on")
        return self._bridge

    # ------------------------------------------------------------------ fetch

    async def fetch(
        self,
        url: str,
        dest: Dest = None,
        *,
        progress: ProgressCallback | None = None,
        **options: Unpack[FileOptions],
    ) -> DownloadResult:
        """Download ``url`` to ``dest``: a file path, an existing directory to
        put the URL's file name in (default: the working directory), a
        character device or FIFO, or an open descriptor (written as one stream).

        Raises a ``DownloadError`` subclass on failure; the final name is then
        never created or changed, and ``NAME.part`` is kept with its journal
        for a later run (``resume=False``: removed). An existing file that is
        already the remote file is skipped; another is replaced only with
        ``overwrite=True``. The keywords are a file's (``FileOptions``), over
        this Downloader's; a bad one raises ``ValueError`` or ``TypeError``
        before anything is done.
        """
        opts = check_options(options, self.options).file
        bridge = self._ensure_bridge()
        url, opts = s3_request(url, opts)
        url = normalize_url(url)
        origin = parse_origin(url, normalized=True)
        if self._rate_gate is not None:
            opts = opts.with_changes(buffer_size=self._rate_gate.chunk_size(opts.buffer_size))
        target = await prepare_target(url, dest, opts)
        budget: BudgetHooks | None = bridge if bridge.budget_enabled else None
        if self._rate_gate is not None:
            budget = PacedBudget(self._rate_gate, origin.host_key, bridge, budget)
        job = FileDownload(
            url,
            origin,
            target.destination,
            target.options,
            progress,
            loop=bridge.loop,
            events=self._dispatcher,
            budget=budget,
            storage=target.stream,
            rebalance=self.rebalance,
            notice=target.notice,
            sockets=self.sockets,
            profile=self._dispatcher.profile(origin.host_key),
            local_copy=target.local_copy,
        )
        return await self._dispatcher.run(job)

    def fetch_many(
        self,
        items: Iterable[Item] | AsyncIterable[Item],
        dest_dir: str | os.PathLike[str] | None = None,
        *,
        progress: ProgressCallback | None = None,
        **options: Unpack[BatchFileOptions],
    ) -> Batch:
        """Download every item (a URL or a ``DownloadRequest``) into ``dest_dir``
        (default: the working directory), sharing this Downloader's budget.

        Items are read lazily, at most ``lookahead`` files ahead (default:
        twice ``max_connections``, at least 64). Use the batch as an async
        context manager and iterate it for each ``DownloadResult`` as it
        finishes; a failed file is a result with ``error`` set. Leaving the
        ``async with`` block waits for the rest (an exception cancels it).
        ``skip_existing``: a file already at its destination is skipped
        without any request. A URL whose last segment is a glob
        (``ftp://host/dir/*B13*``) or that ends in ``/`` stands for the
        matching files of its directory (``list_directory``; ``globs=False``
        turns that off), and ``depth`` levels of subdirectories below it
        (their files keep their place under ``dest_dir``), each directory
        once, at most ``max_listing_entries`` entries per item. Every output
        stays inside ``dest_dir``, which is made when missing. The other
        keywords are those of ``fetch`` (``FileOptions``); ``BatchOptions``
        lists the batch's.

        Example::

            async with dl.fetch_many(urls, "/data", parts=4) as batch:
                async for result in batch:
                    print(result.path if result.ok else result.error)
            print(batch.summary)
        """
        checked = check_options(options, self.options, batch=True)
        settings = checked.batch
        return Batch(
            self.fetch,
            items,
            dest_dir,
            lookahead=settings.lookahead or max(64, 2 * self.max_connections),
            skip_existing=settings.skip_existing,
            progress=progress,
            options=checked.file_given,
            expansion=Expansion(
                self._list_for_batch,
                settings.globs,
                settings.depth,
                settings.max_listing_entries,
            ),
        )

    def _list_for_batch(
        self, url: str, **options: Unpack[FileOptions]
    ) -> AsyncGenerator[list[Entry], None]:
        """``iter_directory`` for files about to be fetched: on FTP, the host's
        free slots log in meanwhile (the listing's round trips overlap the
        logins of the sessions that will fetch its files)."""
        return self.iter_directory(url, _log_in_ahead=True, **options)

    async def list_directory(self, url: str, **options: Unpack[FileOptions]) -> list[Entry]:
        """The entries of directory ``url`` (ending in ``/``): FTP ``MLSD``
        (names, sizes and dates), else ``LIST`` in the Unix form (names, kinds
        and sizes), else ``NLST`` (names); SFTP's ``ls -l`` form; an S3
        prefix's keys; or an HTTP index page's links below it. An answer that
        cannot be read raises ``ProtocolError``."""
        entries: list[Entry] = []
        async for page in self.iter_directory(url, **options):
            entries += page
        return entries

    async def iter_directory(
        self, url: str, *, _log_in_ahead: bool = False, **options: Unpack[FileOptions]
    ) -> AsyncGenerator[list[Entry], None]:
        """``list_directory`` a page at a time: an S3 prefix one ListObjectsV2
        page (up to 1,000 keys) per request, asked for only as the pages are
        taken; other listings in one page. Each request takes one of the
        host's slots while it runs, never while its page waits to be taken."""
        opts = check_options(options, self.options).file
        bridge = self._ensure_bridge()
        pages = self._listings.pages(bridge, url, opts, log_in_ahead=_log_in_ahead)
        async with contextlib.aclosing(pages):
            async for page in pages:
                yield page
