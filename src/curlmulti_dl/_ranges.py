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
from ._curlopts import RangeRequest
from ._ledger import RangeLedger
from ._plan import ByteRange, plan_ranges
from ._policy import RebalancePolicy
from ._probe import ProbeResult, RangeExpectation
from ._rebalance import Running, choose_quiet_tail, choose_replacement, choose_split
from ._sockets import SocketRegistry
from ._storage import Storage
from ._transfer import BudgetHooks, RangeTransfer

__all__ = ["RangeBook"]

OnProbe = Callable[[RangeTransfer, ProbeResult], "int | None"]


class RangeBook:
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
        self.setup_seconds: float | None = None
        self._budget = budget
        self._socket_registry = sockets
        self._host = host
        self._replacements: dict[ByteRange, int] = {}

    # ------------------------------------------------------------ making transfers

    def first(self, storage: Storage, on_probe: OnProbe) -> RangeTransfer:
        request = RangeRequest(self.url, 0, None, self.is_ftp, probe=True)
        transfer = RangeTransfer(
            request,
            storage,
            self.options,
            budget=self._budget,
            on_probe=on_probe,
            sockets=self._socket_registry,
            host=self._host,
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
        to_eof = self.is_ftp and span.end == probe.size  # FTP can only stop by aborting
        request = RangeRequest(
            probe.effective_url,
            span.start,
            None if to_eof else span.end,
            self.is_ftp,
            if_range=None if self.is_ftp else probe.if_range,
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
        transfer.natural_end = probe.size if to_eof else span.end
        if self.ledger is not None:
            self.ledger.assign(transfer, span)
        return self._track(transfer)

    def _track(self, transfer: RangeTransfer) -> RangeTransfer:
        transfer.added_at = time.monotonic()
        self.active.append(transfer)
        self.max_active = max(self.max_active, len(self.active))
        self.ranges += 1
        return transfer

    # ------------------------------------------------------------ planning

    def plan(self, size: int, min_part: int) -> list[ByteRange]:
        return plan_ranges(size, self.options.parts, min_part)

    def apply(self, probe: ProbeResult, min_part: int, first: RangeTransfer) -> None:
        """Plan the file the probe describes; ``first`` already fetches from byte 0
        (to the end, when the size is unknown)."""
        self.probe = probe
        size = probe.size
        if size is None:
            return
        self.ledger = RangeLedger(size)
        # Without ranges the whole file is one range (none when it is empty).
        plan = self.plan(size, min_part) if probe.ranged else plan_ranges(size, 1, 1)
        self.target = max(1, len(plan))
        if plan:
            self.ledger.assign(first, plan[0])
            plan = plan[1:]
        self.queue.extend(plan)

    # ------------------------------------------------------------ rebalancing

    def _views(self, now: float) -> list[Running]:
        return [
            Running(
                i, t.pos, t.end, t.rate(now), t.first_byte_at, t.seen_pos, t.seen_at, t.replacements
            )
            for i, t in enumerate(self.active)
            if t.end is not None and t.head_checked and not t.reached_end
        ]

    def _split(self, storage: Storage) -> RangeTransfer | None:
        """Cut the range that would finish last, or take a quiet tail over whole."""
        assert self.ledger is not None
        now = time.monotonic()
        views = self._views(now)
        setup = self.setup_seconds or 0.0
        choice = choose_split(views, setup, self.options.min_split_size, self.is_ftp)
        if choice is not None:
            victim, cut = self.active[choice[0]], choice[1]
            victim.end = cut  # the old connection stops exactly here
            rest = self.ledger.cut(victim, cut)
            assert rest is not None
            self.splits += 1
            return self._range(storage, rest)
        quiet = choose_quiet_tail(views, now, setup, self.rebalance)
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
        setup = self.setup_seconds or 0.0
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

    def stop_all(self) -> None:
        self.retired.extend(self.active)
        self.active.clear()
        self.queue.clear()

    # ------------------------------------------------------------ progress

    def observe(self, now: float) -> None:
        """The tick: note where each range is, and what reached the file."""
        ledger = self.ledger
        for transfer in self.active:
            if transfer.pos != transfer.seen_pos:
                transfer.seen_pos, transfer.seen_at = transfer.pos, now
            if ledger is not None and ledger.holding(transfer) is not None:
                ledger.record_written(transfer, transfer.flushed)

    def bytes_done(self) -> int:
        ledger = self.ledger
        if ledger is None:
            return sum(t.pos - t.start for t in self.active)
        done = ledger.bytes_written
        for transfer in self.active:
            held = ledger.holding(transfer)
            if held is not None:
                done += transfer.pos - held.written
        return done

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
