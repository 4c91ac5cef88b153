"""``Downloader``: one CurlMulti, its connection slots, and the files it runs.

The Downloader is where decisions meet the bridge: the ``Scheduler`` decides
which downloads get free slots, each file's state machine decides which range
a new transfer takes, and the Downloader starts the transfers slots are
granted to and takes the stopped ones off libcurl. ``_pump`` never re-enters
itself; anything that frees a slot while it runs makes it go round once more.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections import Counter
from collections.abc import AsyncGenerator, AsyncIterable, Iterable
from typing import TYPE_CHECKING

from ._batch import Batch, Item
from ._config import FileOptions
from ._exceptions import DownloaderClosedError, DownloadError
from ._expansion import Expansion
from ._keywords import DEFAULT_LOOP_BUDGET, BatchFileOptions, Options, check_options
from ._listings import Listings
from ._policy import RebalancePolicy
from ._progress import DownloadResult, ProgressCallback
from .engine.curlopts import configure_multi
from .engine.multi import CurlBridge
from .engine.runtime import Loop, TimerHandle, running_loop
from .engine.s3access import s3_request
from .engine.sockets import SocketRegistry
from .engine.transfer import BudgetHooks, RangeTransfer
from .files.destination import Dest
from .files.target import prepare_target
from .job.driver import DownloadState, FileDownload
from .job.transfers import Transfers
from .leases.connections import ConnectionLeases, lease_error
from .protocol.listing import Entry
from .protocol.urls import normalize_url, parse_origin
from .schedule.profile import HostProfile
from .schedule.rates import PacedBudget, RateGate
from .schedule.scheduler import Rank, Scheduler
from .schedule.sharing import connections_to_open_ahead, share_of_free_slots, unplanned_on

if TYPE_CHECKING:
    from typing_extensions import Unpack  # (typing's from Python 3.11)

__all__ = ["DEFAULT_LOOP_BUDGET", "Downloader"]


_TICK = 0.1  # seconds between looks at running downloads (progress, rebalancing)


class _Events:
    """What a file tells (and asks) its Downloader (``JobEvents``), kept off
    the Downloader's public names."""

    def __init__(self, downloader: Downloader) -> None:
        self._downloader = downloader

    def probe_ready(self, job: FileDownload, lane_id: int) -> None:
        self._downloader._probe_ready(job, lane_id)

    def retry_ready(self, job: FileDownload) -> None:
        self._downloader._retry_ready(job)

    def host_refused(self, job: FileDownload, pause: float) -> None:
        self._downloader._host_refused(job, pause)

    def connections_to_open_ahead(self, job: FileDownload) -> int:
        return self._downloader._connections_to_open_ahead(job)

    def share_of_free_slots(self, job: FileDownload) -> int:
        return self._downloader._share_of_free_slots(job)


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
        self._leasing = (
            ConnectionLeases(connection_leases, max_host_connections, self.scheduler,
                             self.sockets, changed=self._pump, failed=self._lease_failed)
            if connection_leases is not None
            else None
        )  # fmt: skip
        if self._rate_gate is not None:
            self.sockets.receive_buffer = self._rate_gate.receive_window(max_host_connections)
        self._profiles: dict[str, HostProfile] = {}  # what each host's set-ups cost
        self._loop: Loop | None = None  # asyncio's running loop, or engine.runtime.TrioLoop
        self._jobs: set[FileDownload] = set()
        # Files that got a connection: what the tick and the sharing of slots
        # look at (files still in line cost nothing per event).
        self._started: dict[FileDownload, None] = {}
        self._files_per_host: Counter[str] = Counter()
        self._tick_handle: TimerHandle | None = None
        self._pumping = False
        self._pump_again = False
        self._closed = False
        self._transfers = Transfers(self.scheduler, self._close_grace, self._transfer_ended)
        self._events = _Events(self)
        self._listings = Listings(
            self.scheduler, self.sockets, self._profiles, self._leasing, self._pump
        )

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
        for job in list(self._jobs):
            job.fail(DownloaderClosedError("the Downloader was closed", url=job.url))
            self._settle(job)
        await self._listings.aclose()
        if self._tick_handle is not None:
            self._tick_handle.cancel()
            self._tick_handle = None
        if self._bridge is not None:
            # Cut the kept connections first: libcurl would end each cached FTP
            # session with a QUIT and wait for its answer, blocking the loop.
            self.sockets.shutdown_all()
            self._bridge.close()
            self._bridge = None
        if self._leasing is not None:
            await self._leasing.aclose()
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
            if self._leasing is not None:  # idle kept connections it may cut
                bridge.on_kept_connection = self.sockets.served
            self._bridge = self._transfers.bridge = bridge
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
        origin = parse_origin(url)
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
            events=self._events,
            budget=budget,
            storage=target.stream,
            rebalance=self.rebalance,
            notice=target.notice,
            sockets=self.sockets,
            profile=self._profiles.setdefault(origin.host_key, HostProfile()),
            local_copy=target.local_copy,
        )
        self._jobs.add(job)
        self._files_per_host[job.host_key] += 1
        try:
            self.scheduler.want(job)
            self._pump()
            self._ensure_tick()
            return await job.future
        finally:
            if not job.future.done() or not job.state.is_over:
                job.fail(None)  # cancelled by our caller
            self._settle(job)
            self._jobs.discard(job)
            self._started.pop(job, None)
            self._files_per_host[job.host_key] -= 1
            if not self._files_per_host[job.host_key]:
                del self._files_per_host[job.host_key]
                self.sockets.warm.close(job.host_key)  # no range of its host will want them

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

    # ------------------------------------------------------------ slots

    def _share_of_free_slots(self, job: FileDownload) -> int:
        return share_of_free_slots(job, self._started, self.scheduler)

    def _connections_to_open_ahead(self, job: FileDownload) -> int:
        return connections_to_open_ahead(job, self._jobs, self.scheduler, self.sockets.warm.count)

    def _pump(self, now: float | None = None) -> None:
        """Start a transfer on every slot the scheduler grants; leased, ask
        for the leases the files want (and, given ``now``, from the tick,
        give back those spare long enough)."""
        if self._pumping:
            self._pump_again = True  # whoever pumps now goes round once more
            return
        self._pumping = True
        try:
            self._pump_again = True
            while self._pump_again:
                self._pump_again = False
                for job in self.scheduler.grants(time.monotonic()):
                    self._start_one(job)
        finally:
            self._pumping = False
        if self._leasing is not None and self._loop is not None:
            wanted = self._connections_wanted()
            self._leasing.ask(self._loop, wanted)
            if now is not None:
                self._leasing.give_back_spare(
                    self._loop, wanted, now, self._busy_sockets, self._close_grace
                )
            self._ensure_tick()

    # ------------------------------------------------------------ leases

    def _connections_wanted(self) -> Counter[str]:
        """Per host: connections in use, plus those its files and listings want."""
        wanted: Counter[str] = Counter()
        for key in self.scheduler.hosts():
            wanted[key] = self.scheduler.slots_taken(key) + self.scheduler.new_waiting(key)
        for job in self._started:
            wanted[job.host_key] += job.more_connections_wanted
        wanted.update(self._listings.waiting)
        return wanted

    def _busy_sockets(self, key: str) -> set[int] | None:
        """libcurl's descriptors of the transfers running to ``key``; None if
        one is not known: a listing holds a slot, or a transfer has no
        connection yet (libcurl may be about to reuse an idle one)."""
        busy = set()
        for borrower in self.scheduler.host(key).statistics().borrowers:
            if not isinstance(borrower, RangeTransfer):
                return None
            if borrower.closed:
                continue  # a lingering slot, its connection gone
            fd = borrower.socket()
            if fd is None:
                return None
            busy.add(fd)
        return busy

    def _lease_failed(self, key: str, error: BaseException) -> None:
        """A lease of ``key`` could not be had: with none held, its downloads
        fail (with some, they go on within them; the next request may work)."""
        assert self._leasing is not None
        self.scheduler.wake(key)  # a listing waiting for a slot fails too
        if self._leasing.book.held(key):
            return
        for job in list(self._jobs):
            if job.host_key == key and not job.is_over:
                job.fail(lease_error(job.url, error))
                self._settle(job)

    def _start_one(self, job: FileDownload) -> None:
        bridge = self._bridge
        transfer = None
        split = job.rank[0] == Rank.SPLIT
        if bridge is not None and not (
            split and unplanned_on(job.host_key, self._started, self.scheduler)
        ):
            # A split waits while files of its host are still to be planned:
            # their shares of the free slots are theirs.
            transfer = job.start_transfer()
        if transfer is None:
            # Nothing worth a connection now (events bring it back): the slot
            # goes to the next in line, so go round once more.
            self.scheduler.forget(job)
            self._pump_again = True
            self._settle(job, rewant=False)
            return
        self._pump_again = True
        self._started[job] = None
        if not self._transfers.start(job, transfer):  # cannot happen: grants counted
            job.fail(DownloadError("internal error: no slot for a granted transfer", url=job.url))
        self._settle(job)

    # ------------------------------------------------------------ events

    def _probe_ready(self, job: FileDownload, lane_id: int) -> None:
        job.apply_probe(lane_id)
        self._settle(job)
        self._pump()

    def _host_refused(self, job: FileDownload, pause: float) -> None:
        self.scheduler.hold(job.host_key, time.monotonic(), pause)

    def _retry_ready(self, job: FileDownload) -> None:
        self._settle(job)
        self._pump()
        self._ensure_tick()

    def _transfer_ended(self, job: FileDownload) -> None:
        self._settle(job)
        self._pump()

    def _close_grace(self, key: str) -> float:
        """How long a connection closed mid-body still counts at the server:
        its FIN is half a round trip away, and the server sees it at its next
        read or write. About one set-up's time, within 50-500 ms."""
        profile = self._profiles.get(key)
        setup = profile.fresh_setup if profile is not None else None
        return min(0.5, 0.05 + (setup or 0.0))

    def _settle(self, job: FileDownload, *, rewant: bool = True) -> None:
        """Carry out what ``job`` decided: end the transfers it stopped, and
        put it in line for a slot if it wants one."""
        self._transfers.end_retired(job)
        if job.state.is_over:
            self.scheduler.forget(job)
        elif rewant and job.wants_connection():
            self.scheduler.want(job)

    # ------------------------------------------------------------ the tick

    def _ensure_tick(self) -> None:
        if (
            self._tick_handle is None
            and self._loop is not None
            and (self._jobs or (self._leasing is not None and self._leasing.holds_any()))
        ):
            self._tick_handle = self._loop.call_later(_TICK, self._tick)

    def _tick(self) -> None:
        """One timer for every running download (an idle Downloader has none,
        unless it holds leases still to give back)."""
        self._tick_handle = None
        now = time.monotonic()
        self.scheduler.recover(now, self.limit_recovery)
        for job in list(self._started):
            if job.state is not DownloadState.QUEUED:  # no progress before a slot
                job.tick(now)
                self._settle(job)
        self.sockets.warm.cool(
            {job.host_key for job in self._started if not job.planned and not job.is_over}
        )
        self._pump(now)
        self._ensure_tick()
