"""``Dispatcher``: the files of one Downloader, their slots and their
transfers, between the scheduler and libcurl.

The ``Scheduler`` decides which file gets a free slot, each file's machine
which range a new transfer takes; the dispatcher starts the transfers slots
are granted to (``Transfers`` ends each one once), hears what the files tell
(their first answers, retries, refusals), ticks the running ones, and asks
for and gives back connection leases. ``_pump`` never re-enters itself;
anything that frees a slot while it runs makes it go round once more.

The ``Downloader`` is its face: it checks options, prepares destinations and
makes each file's ``FileDownload``, then awaits it here (``run``).
"""

from __future__ import annotations

import time
from collections import Counter

from ._eventloop import Loop, TimerHandle
from ._exceptions import DownloaderClosedError, DownloadError
from ._progress import DownloadResult
from .engine.multi import CurlBridge
from .engine.sockets import SocketRegistry
from .engine.transfer import RangeTransfer
from .job.driver import DownloadState, FileDownload
from .job.transfers import Transfers
from .leases.connections import ConnectionLeases, lease_error
from .leases.source import HostLeases
from .schedule.profile import HostProfile
from .schedule.scheduler import Rank, Scheduler
from .schedule.sharing import connections_to_open_ahead, share_of_free_slots, unplanned_on

__all__ = ["Dispatcher"]

_TICK = 0.1  # seconds between looks at running downloads (progress, rebalancing)


class Dispatcher:
    """Runs the files of one Downloader (see the module docstring). It is the
    ``JobEvents`` its files talk to; ``listers_waiting`` counts the listings
    waiting for a slot (their leases are asked for too)."""

    def __init__(
        self,
        scheduler: Scheduler[FileDownload],
        sockets: SocketRegistry,
        connection_leases: HostLeases | None,
        max_host_connections: int,
        limit_recovery: float,
    ) -> None:
        self.scheduler = scheduler
        self.sockets = sockets
        self.profiles: dict[str, HostProfile] = {}  # what each host's set-ups cost
        self.leasing = (
            ConnectionLeases(connection_leases, max_host_connections, scheduler, sockets,
                             changed=self.pump, failed=self._lease_failed)
            if connection_leases is not None
            else None
        )  # fmt: skip
        self.listers_waiting: Counter[str] = Counter()
        self._limit_recovery = limit_recovery
        self._transfers = Transfers(scheduler, self._close_grace, self._transfer_ended)
        self._loop: Loop | None = None
        self._jobs: set[FileDownload] = set()
        # Files that got a connection: what the tick and the sharing of slots
        # look at (files still in line cost nothing per event).
        self._started: dict[FileDownload, None] = {}
        self._files_per_host: Counter[str] = Counter()
        self._tick_handle: TimerHandle | None = None
        self._pumping = False
        self._pump_again = False

    def attach(self, bridge: CurlBridge, loop: Loop) -> None:
        """The multi handle and the loop, once the Downloader has them."""
        self._transfers.bridge = bridge
        self._loop = loop

    def profile(self, key: str) -> HostProfile:
        return self.profiles.setdefault(key, HostProfile())

    # ------------------------------------------------------------ a file

    async def run(self, job: FileDownload) -> DownloadResult:
        """Put ``job`` in line and wait for its result (its error raises).
        However this ends (a cancel included), nothing of the file stays."""
        self._jobs.add(job)
        self._files_per_host[job.host_key] += 1
        try:
            self.scheduler.want(job)
            self.pump()
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

    def close(self) -> None:
        """Stop every file (each raises ``DownloaderClosedError``), and the tick."""
        for job in list(self._jobs):
            job.fail(DownloaderClosedError("the Downloader was closed", url=job.url))
            self._settle(job)
        if self._tick_handle is not None:
            self._tick_handle.cancel()
            self._tick_handle = None

    # ------------------------------------------------------------ what files tell

    def probe_ready(self, job: FileDownload, lane_id: int) -> None:
        job.apply_probe(lane_id)
        self._settle(job)
        self.pump()

    def retry_ready(self, job: FileDownload) -> None:
        self._settle(job)
        self.pump()
        self._ensure_tick()

    def host_refused(self, job: FileDownload, pause: float) -> None:
        self.scheduler.hold(job.host_key, time.monotonic(), pause)

    def connections_to_open_ahead(self, job: FileDownload) -> int:
        return connections_to_open_ahead(job, self._jobs, self.scheduler, self.sockets.warm.count)

    def share_of_free_slots(self, job: FileDownload) -> int:
        return share_of_free_slots(job, self._started, self.scheduler)

    def _transfer_ended(self, job: FileDownload) -> None:
        self._settle(job)
        self.pump()

    # ------------------------------------------------------------ slots

    def pump(self, now: float | None = None) -> None:
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
        if self.leasing is not None and self._loop is not None:
            wanted = self._connections_wanted()
            self.leasing.ask(self._loop, wanted)
            if now is not None:
                self.leasing.give_back_spare(
                    self._loop, wanted, now, self._busy_sockets, self._close_grace
                )
            self._ensure_tick()

    def _start_one(self, job: FileDownload) -> None:
        transfer = None
        split = job.rank[0] == Rank.SPLIT
        attached = self._transfers.bridge is not None
        if attached and not (split and unplanned_on(job.host_key, self._started, self.scheduler)):
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

    def _settle(self, job: FileDownload, *, rewant: bool = True) -> None:
        """Carry out what ``job`` decided: end the transfers it stopped, and
        put it in line for a slot if it wants one."""
        self._transfers.end_retired(job)
        if job.state.is_over:
            self.scheduler.forget(job)
        elif rewant and job.wants_connection():
            self.scheduler.want(job)

    def _close_grace(self, key: str) -> float:
        """How long a connection closed mid-body still counts at the server:
        its FIN is half a round trip away, and the server sees it at its next
        read or write. About one set-up's time, within 50-500 ms."""
        profile = self.profiles.get(key)
        setup = profile.fresh_setup if profile is not None else None
        return min(0.5, 0.05 + (setup or 0.0))

    # ------------------------------------------------------------ leases

    def _connections_wanted(self) -> Counter[str]:
        """Per host: connections in use, plus those its files and listings want."""
        wanted: Counter[str] = Counter()
        for key in self.scheduler.hosts():
            wanted[key] = self.scheduler.slots_taken(key) + self.scheduler.new_waiting(key)
        for job in self._started:
            wanted[job.host_key] += job.more_connections_wanted
        wanted.update(self.listers_waiting)
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
        assert self.leasing is not None
        self.scheduler.wake(key)  # a listing waiting for a slot fails too
        if self.leasing.book.held(key):
            return
        for job in list(self._jobs):
            if job.host_key == key and not job.is_over:
                job.fail(lease_error(job.url, error))
                self._settle(job)

    # ------------------------------------------------------------ the tick

    def _ensure_tick(self) -> None:
        if (
            self._tick_handle is None
            and self._loop is not None
            and (self._jobs or (self.leasing is not None and self.leasing.holds_any()))
        ):
            self._tick_handle = self._loop.call_later(_TICK, self._tick)

    def _tick(self) -> None:
        """One timer for every running download (an idle Downloader has none,
        unless it holds leases still to give back)."""
        self._tick_handle = None
        now = time.monotonic()
        self.scheduler.recover(now, self._limit_recovery)
        for job in list(self._started):
            if job.state is not DownloadState.QUEUED:  # no progress before a slot
                job.tick(now)
                self._settle(job)
        self.sockets.warm.cool(
            {job.host_key for job in self._started if not job.planned and not job.is_over}
        )
        self.pump(now)
        self._ensure_tick()
