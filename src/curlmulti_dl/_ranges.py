"""The running ranges of one file: planned, active and retired transfers over
the range ledger, and the moves that rebalance them.

``RangeBook`` makes transfers and decides which range each one gets; it does
no network or scheduling work itself. Its methods raise ``StorageError`` when
flushing a transfer it stops fails; the download turns that into a failure.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from ._config import DownloadOptions
from ._curlopts import RangeRequest, listing_argument
from ._exceptions import StorageError
from ._ftpanswers import FtpAnswers
from ._ledger import RangeLedger
from ._plan import ByteRange
from ._policy import RebalancePolicy
from ._probe import ProbeResult, RangeExpectation
from ._profile import HostProfile
from ._rangeplan import Planning
from ._rangeprogress import RangeProgress
from ._rebalance import Running, choose_quiet_tail, choose_replacement, choose_split
from ._sockets import SocketRegistry
from ._storage import Storage
from ._transfer import BudgetHooks, RangeTransfer

__all__ = ["RangeBook"]

OnProbe = Callable[[RangeTransfer, ProbeResult], "int | None"]


class RangeBook(Planning, FtpAnswers, RangeProgress):
    """Which transfer fetches which bytes of one file."""

    def __init__(
        self,
        url: str,
        is_ftp: bool,
        options: DownloadOptions,
        budget: BudgetHooks | None,
        rebalance: RebalancePolicy,
        sockets: SocketRegistry | None = None,
        host: str = "",
        profile: HostProfile | None = None,
    ) -> None:
        self.url = url
        self.is_ftp = is_ftp
        self.options = options
        self.rebalance = rebalance
        self.probe: ProbeResult | None = None
        self.ledger: RangeLedger | None = None  # None while the size is unknown
        self.queue: deque[ByteRange] = deque()  # planned ranges not started yet
        self.active: list[RangeTransfer] = []
        self.retired: list[RangeTransfer] = []  # stopped here; the Downloader removes them
        self.target = 1  # connections this file should run on
        self.max_active = self.ranges = self.splits = self.reconnects = 0
        self.profile = profile or HostProfile()  # shared by the host's files
        # Connections the plan will start on, fixed with the first range's end
        # and counted by the Downloader as taken until the plan is applied.
        self.promised: int | None = None
        self.restored: tuple[ByteRange, ...] = ()  # resuming: spans a journal vouched for
        self._budget = budget
        self._socket_registry = sockets
        self._host = host
        self._replacements: dict[ByteRange, int] = {}

    # ------------------------------------------------------------ making transfers

    def first(
        self,
        storage: Storage,
        on_probe: OnProbe,
        start: int = 0,
        if_range: str | None = None,
        may_list: bool = False,
        preconnect: Callable[[], int] | None = None,
    ) -> RangeTransfer:
        """The first request: from byte ``start`` (0 but when resuming) to the end.
        ``may_list``: a new file, whose FTP size and date may come from MLST;
        ``preconnect``: how many connections to open for later ranges meanwhile."""
        method, listing = self._ftp_method(), None
        if self.is_ftp:
            if_range = None
            if may_list and not start and self.profile.ftp.may_list():
                listing = listing_argument(self.url, method)
        request = RangeRequest(
            self.url, start, None, self.is_ftp, probe=True, if_range=if_range,
            ftp_method=method, listing=listing,
        )  # fmt: skip
        transfer = RangeTransfer(
            request,
            storage,
            self.options,
            budget=self._budget,
            on_probe=on_probe,
            sockets=self._socket_registry,
            host=self._host,
            preconnect=preconnect,
        )
        return self._track(transfer)

    def wants_more(self) -> bool:
        return bool(self.queue) or len(self.active) < self.target

    def next(self, storage: Storage) -> RangeTransfer | None:
        """A transfer for a free slot, or None if none is worth one now."""
        if self.queue:
            planned = self.queue.popleft()
            return self._range(storage, planned, self._replacements.pop(planned, 0))
        if len(self.active) < self.target and self.ledger is not None:
            return self._split(storage)
        return None

    def _range(self, storage: Storage, span: ByteRange, replacements: int = 0) -> RangeTransfer:
        probe = self.probe
        assert probe is not None
        # An FTP server always sends to the end of the file: the transfer stops
        # itself at ``span.end`` (see _curlopts._configure_ftp).
        request = RangeRequest(
            probe.effective_url,
            span.start,
            None if self.is_ftp else span.end,
            self.is_ftp,
            if_range=None if self.is_ftp else probe.if_range,
            ftp_method=self._ftp_method(),
            want_date=self.is_ftp and probe.last_modified is None,
        )
        expect = None if self.is_ftp else RangeExpectation.for_range(probe, span.start)
        transfer = RangeTransfer(
            request,
            storage,
            self.options,
            expect=expect,
            budget=self._budget,
            replacements=replacements,
            sockets=self._socket_registry,
            host=self._host,
        )
        transfer.end = span.end
        transfer.natural_end = probe.size if self.is_ftp else span.end
        if self.ledger is not None:
            self.ledger.assign(transfer, span)
        return self._track(transfer)

    def _track(self, transfer: RangeTransfer) -> RangeTransfer:
        self.profile.session_taken()
        transfer.added_at = time.monotonic()
        self.active.append(transfer)
        self.max_active = max(self.max_active, len(self.active))
        self.ranges += 1
        return transfer

    # ------------------------------------------------------------ rebalancing

    def _views(self, now: float, *, started_only: bool = True) -> list[Running]:
        """The ranges rebalancing may move. A range whose first byte has not
        come yet may be cut too (its end is only read by the write callback):
        just after a split the newest range is often the one that would finish
        last."""
        return [
            Running(
                i, t.pos, t.end, t.rate(now), t.first_byte_at, t.seen_pos, t.seen_at, t.replacements
            )
            for i, t in enumerate(self.active)
            if t.end is not None
            and not t.reached_end
            and not t.probe_pending
            and (t.head_checked or not started_only)
        ]

    def _split(self, storage: Storage) -> RangeTransfer | None:
        """Cut the range that would finish last, or take a quiet tail over whole."""
        assert self.ledger is not None
        now = time.monotonic()
        views = self._views(now, started_only=False)
        setup = self.profile.split_cost
        settled_before = now - self.rebalance.warmup
        choice = choose_split(views, setup, self.options.min_split_size, settled_before)
        if choice is not None:
            victim, cut = self.active[choice[0]], choice[1]
            victim.end = cut  # the old connection stops exactly here
            rest = self.ledger.cut(victim, cut)
            assert rest is not None
            self.splits += 1
            return self._range(storage, rest)
        quiet = choose_quiet_tail([v for v in views if v.first_byte_at], now, setup, self.rebalance)
        if quiet is None:
            return None
        rest = self.stop(self.active[quiet])
        if rest is None:
            return None
        self.splits += 1
        return self._range(storage, rest)

    def replace_slow(self, now: float) -> None:
        """Drop a connection far slower than the others at once; its remaining
        bytes go first in the queue, for a new connection."""
        if self.queue or self.target < 2 or self.ledger is None:
            return
        setup = self.profile.split_cost
        views = self._views(now)
        key = choose_replacement(views, now, setup, self.options.min_split_size, self.rebalance)
        if key is None:
            return
        slowest = self.active[key]
        rest = self.stop(slowest)
        if rest is not None:
            self.queue.appendleft(rest)
            self._replacements[rest] = slowest.replacements + 1
            self.reconnects += 1

    def stop(self, transfer: RangeTransfer) -> ByteRange | None:
        """Stop ``transfer`` at its current byte; its unwritten rest becomes
        pending and is returned. Raises StorageError if its buffer cannot be written."""
        transfer.flush()
        self.active.remove(transfer)
        self.retired.append(transfer)
        if self.ledger is None:
            return None
        self.ledger.record_written(transfer, transfer.flushed)
        return self.ledger.release(transfer)

    def lost(self, transfer: RangeTransfer) -> ByteRange | None:
        """``transfer`` failed after writing up to ``flushed``: its unwritten
        rest becomes pending and is returned (None if it held none)."""
        self.active.remove(transfer)
        ledger = self.ledger
        if ledger is None or ledger.holding(transfer) is None:
            return None
        if self.probe is not None and not self.probe.ranged:
            # The server sends whole files only: start over from byte 0.
            self.ledger = RangeLedger(ledger.size)
            return ByteRange(0, ledger.size)
        ledger.record_written(transfer, transfer.flushed)
        return ledger.release(transfer)

    def stalled(self, now: float, quiet_for: float) -> list[RangeTransfer]:
        """Running transfers that have received nothing for ``quiet_for``
        seconds (since their last byte, or since they were added)."""
        found = []
        for transfer in self.active:
            last = transfer.seen_at or transfer.added_at
            if last and now - last > quiet_for and not transfer.reached_end:
                found.append(transfer)
        return found

    def flush_all(self) -> None:
        """Write every running transfer's buffer and note it in the ledger
        (before a stop that keeps the file for a later run)."""
        for transfer in self.active:
            try:
                transfer.flush()
            except StorageError:
                continue
            if self.ledger is not None and self.ledger.holding(transfer) is not None:
                self.ledger.record_written(transfer, transfer.flushed)

    def stop_all(self) -> None:
        self.retired.extend(self.active)
        self.active.clear()
        self.queue.clear()

    def finished(self, transfer: RangeTransfer) -> None:
        """``transfer`` ended by itself after writing all it had (flushed)."""
        self.active.remove(transfer)
        if self.ledger is None:  # a stream of unknown size: now we know it
            size = transfer.pos
            self.ledger = RangeLedger(size)
            if size:
                self.ledger.assign(transfer, ByteRange(0, size))
            else:
                return
        if self.ledger.holding(transfer) is None:
            return  # it held no bytes: an empty file
        self.ledger.record_written(transfer, transfer.flushed)
        self.ledger.finish(transfer)

    @property
    def complete(self) -> bool:
        return self.ledger is not None and self.ledger.complete and not self.active
