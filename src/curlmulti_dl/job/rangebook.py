"""The running ranges of one file: the plan made from the first answer (and,
when resuming, the missing spans), the active and retired transfers over the
range ledger, how far they have come, what their FTP answers teach, and the
moves that rebalance them.

``RangeBook`` makes the lanes (``ranges.lane``) that transfers will run and
decides which range each one gets; it does no I/O and reads no clock but the
one it is given. What a lane has ``flushed`` is what it books as written: the
driver writes a lane's buffer out before it tells the machine anything.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections import deque
from collections.abc import Callable

from .._config import DownloadOptions
from .._policy import RebalancePolicy
from ..protocol.probe import ProbeResult, RangeExpectation, http_date
from ..protocol.redirects import same_origin
from ..protocol.request import RangeRequest, listing_argument
from ..ranges.lane import Lane
from ..ranges.ledger import RangeLedger
from ..ranges.plan import ByteRange, plan_ranges
from ..ranges.rebalance import Running, choose_quiet_tail, choose_replacement, choose_split
from ..schedule.profile import HostProfile

__all__ = ["RangeBook"]

_EOF_WEIGHT = 0.75  # measured on the far 16 x 24 MiB job (benchmarks/far.py): 0.6-0.85


class RangeBook:
    """Which transfer fetches which bytes of one file."""

    def __init__(
        self,
        url: str,
        is_ftp: bool,
        options: DownloadOptions,
        rebalance: RebalancePolicy,
        clock: Callable[[], float],
        profile: HostProfile | None = None,
        is_sftp: bool = False,
    ) -> None:
        self.url = url
        self.is_ftp = is_ftp
        self.is_sftp = is_sftp
        self.options = options
        self.rebalance = rebalance
        self.probe: ProbeResult | None = None
        self.ledger: RangeLedger | None = None  # None while the size is unknown
        self.queue: deque[ByteRange] = deque()  # planned ranges not started yet
        self.active: list[Lane] = []
        self.retired: list[Lane] = []  # stopped here; the driver ends their transfers
        self.target = 1  # connections this file should run on
        self.max_active = self.ranges = self.splits = self.reconnects = 0
        self.profile = profile or HostProfile()  # shared by the host's files
        # Connections the plan will start on, fixed with the first range's end
        # and counted by the Downloader as taken until the plan is applied.
        self.promised: int | None = None
        self.restored: tuple[ByteRange, ...] = ()  # resuming: spans a journal vouched for
        self._clock = clock
        self._ids = itertools.count(1)
        self._replacements: dict[ByteRange, int] = {}

    # ------------------------------------------------------------ making lanes

    def first(
        self,
        start: int = 0,
        if_range: str | None = None,
        may_list: bool = False,
        url: str | None = None,
    ) -> Lane:
        """The first request: from byte ``start`` (0 but when resuming) to the end.
        ``may_list``: a new file, whose FTP size and date may come from MLST;
        ``url``: where a redirect sent it (default: the file's URL)."""
        url = url or self.url
        method, listing = self._ftp_method(), None
        if self.is_ftp:
            if_range = None
            if may_list and not start and self.profile.ftp.may_list():
                listing = listing_argument(self.url, method)
        if self.is_sftp:
            if_range = None
        request = RangeRequest(
            url, start, None, self.is_ftp, probe=True, if_range=if_range,
            ftp_method=method, listing=listing, is_sftp=self.is_sftp,
            date_only=self.is_sftp,  # a stat first: every SFTP range has its end
            secrets=self._at_origin(url),
        )  # fmt: skip
        return self._track(Lane(next(self._ids), request))

    def find(self, lane_id: int) -> Lane | None:
        """The running lane ``lane_id`` (None: it was stopped here already)."""
        return next((lane for lane in self.active if lane.id == lane_id), None)

    def wants_more(self) -> bool:
        return bool(self.queue) or len(self.active) < self.target

    def next(self) -> Lane | None:
        """A lane for a free slot, or None if none is worth one now."""
        if self.queue:
            planned = self.queue.popleft()
            return self._range(planned, self._replacements.pop(planned, 0))
        if len(self.active) < self.target and self.ledger is not None and not self.is_sftp:
            # (An SFTP range cut short loses its session and its read-ahead.)
            return self._split()
        return None

    def _range(self, span: ByteRange, replacements: int = 0) -> Lane:
        probe = self.probe
        assert probe is not None
        # An FTP server always sends to the end of the file: the transfer stops
        # itself at ``span.end`` (see engine.curlopts._configure_ftp).
        request = RangeRequest(
            probe.effective_url,
            span.start,
            None if self.is_ftp else span.end,
            self.is_ftp,
            if_range=None if self.is_ftp or self.is_sftp else probe.if_range,
            ftp_method=self._ftp_method(),
            want_date=self.is_ftp and probe.last_modified is None,
            is_sftp=self.is_sftp,
            secrets=self._at_origin(probe.effective_url),
        )
        expect = None if self.is_ftp else RangeExpectation.for_range(probe, span.start)
        transfer = Lane(next(self._ids), request, expect=expect, replacements=replacements)
        transfer.end = span.end
        transfer.natural_end = probe.size if self.is_ftp else span.end
        if self.ledger is not None:
            self.ledger.assign(transfer, span)
        return self._track(transfer)

    def _at_origin(self, url: str) -> bool:
        """Whether a request to ``url`` may carry the user's headers and login:
        only to the origin of the file's own URL (a redirect may lead away)."""
        return url == self.url or same_origin(url, self.url)

    def _track(self, transfer: Lane) -> Lane:
        self.profile.session_taken()
        transfer.added_at = self._clock()
        self.active.append(transfer)
        self.max_active = max(self.max_active, len(self.active))
        self.ranges += 1
        return transfer

    # ------------------------------------------------------------ planning

    def plan(self, size: int, min_part: int, connections: int | None = None) -> list[ByteRange]:
        """The ranges to start on: ``parts`` of them, or ``connections`` if fewer.

        FTP, when the host's slots are shared (fewer ``connections`` than
        ``parts``): the range that runs to EOF is planned a quarter shorter.
        It is the one whose session survives its end (a range stopped mid-file
        loses its session), so it is free early, and without a login, to help
        the files that started on fewer connections.
        """
        count = self.options.parts if connections is None else min(self.options.parts, connections)
        shared = self.is_ftp and connections is not None and connections < self.options.parts
        return plan_ranges(size, max(1, count), min_part, _EOF_WEIGHT if shared else 1.0)

    def apply(self, probe: ProbeResult, min_part: int, first: Lane) -> None:
        """Plan the file the probe describes; ``first`` already fetches from byte 0
        (to the end, when the size is unknown).

        ``target``, the most connections the file may run on, comes from
        ``parts``; the plan starts on ``promised`` of them (the file's share of
        the host's free slots). Later, free slots split running ranges.
        """
        self.probe = probe
        size = probe.size
        if size is None:
            return
        self.ledger = RangeLedger(size)
        if self.restored:
            self._apply_restored(first)
            return
        if probe.ranged:
            self.target = max(1, len(self.plan(size, min_part)))
            plan = self.plan(size, min_part, self.promised)
        else:  # the whole file is one range (none when it is empty)
            plan = plan_ranges(size, 1, 1)
        self.promised = None
        if plan and not first.request.date_only:  # a stat fetched no range
            self.ledger.assign(first, plan[0])
            plan = plan[1:]
        self.queue.extend(plan)

    def _apply_restored(self, first: Lane) -> None:
        """Resuming: the journal's durable bytes are done; ``first`` takes the
        missing span it starts in, the other missing spans queue (free slots
        split them further)."""
        ledger = self.ledger
        assert ledger is not None
        ledger.restore(self.restored)
        self.target = max(1, len(self.plan(ledger.size, 1)))
        for span in list(ledger.pending):
            if span.start == first.start and not first.request.date_only:
                ledger.assign(first, span)
            else:
                self.queue.append(span)

    def missing_end(self, start: int, size: int) -> int:
        """Where the missing span that begins at ``start`` ends (resuming)."""
        return next((span.start for span in self.restored if span.start > start), size)

    def forget_plan(self) -> None:
        """The plan came from a wrong first answer: back to before it (the
        running transfers were stopped first)."""
        self.probe, self.ledger, self.promised = None, None, None
        self.queue.clear()
        self.target = 1
        self.restored = ()

    # ------------------------------------------------------------ progress

    def observe(self, now: float) -> None:
        """The tick: note where each range is, and what reached the file."""
        ledger = self.ledger
        for transfer in self.active:
            if transfer.first_byte_at and not transfer.setup_noted:
                self.note_setup(transfer)
            if transfer.pos != transfer.seen_pos:
                transfer.seen_pos, transfer.seen_at = transfer.pos, now
            if ledger is not None and ledger.holding(transfer) is not None:
                ledger.record_written(transfer, transfer.flushed)

    def note_setup(self, transfer: Lane) -> None:
        """Put ``transfer``'s wait for its first byte into the host's profile
        (once the driver knows whether it opened a connection)."""
        if transfer.fresh_connection is None:
            return
        transfer.setup_noted = True
        fresh = transfer.fresh_connection
        if fresh:
            self.profile.no_idle_sessions()  # none waited after all: recount from here
        self.profile.observe_setup(transfer.first_byte_at - transfer.added_at, fresh=fresh)

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

    # ------------------------------------------------------------ FTP answers

    def _ftp_method(self) -> str:
        return self.profile.ftp.file_method(self.options.ftp_file_method)

    def learn_dialect(self, transfer: Lane) -> None:
        """What ``transfer``'s answers tell of the server's FTP dialect."""
        if self.is_ftp and transfer.error is None and not transfer.answered_aside:
            request = transfer.request
            self.profile.ftp.observe(
                transfer.replies,
                named_a_directory=request.names_a_directory,
                listed=request.listing is not None,
            )

    def date_query(self) -> Lane:
        """The file's date (MDTM) and no data, on a cached session (the DATING state)."""
        request = RangeRequest(
            self.url, 0, None, True, ftp_method=self._ftp_method(), date_only=True
        )
        return Lane(next(self._ids), request)

    def learn_date(self, transfer: Lane) -> None:
        """A date that came after the plan (MDTM after the data, or on a later
        range, where MLST gave none) goes into the probe: stamp and journal."""
        probe, mtime = self.probe, transfer.replies.mtime
        if self.is_sftp:
            self._learn_sftp_date(transfer)
        elif self.is_ftp and probe is not None and probe.last_modified is None and mtime:
            self.probe = dataclasses.replace(probe, last_modified=http_date(mtime))

    def _learn_sftp_date(self, transfer: Lane) -> None:
        """An SFTP file's date from each range's own stat (read after its
        end): one that differs from the first stat's means the file changed
        under us; the first date, if that stat had none, stamps the file."""
        probe, mtime = self.probe, transfer.stat_mtime
        if probe is None or probe.size is None or mtime is None:
            return
        if probe.last_modified is None:
            self.probe = dataclasses.replace(probe, last_modified=http_date(mtime))
            return
        RangeExpectation.for_range(probe, transfer.start).check_sftp(mtime, self.url)

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

    def _split(self) -> Lane | None:
        """Cut the range that would finish last, or take a quiet tail over whole."""
        assert self.ledger is not None
        now = self._clock()
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
            return self._range(rest)
        quiet = choose_quiet_tail([v for v in views if v.first_byte_at], now, setup, self.rebalance)
        if quiet is None:
            return None
        rest = self.stop(self.active[quiet])
        if rest is None:
            return None
        self.splits += 1
        return self._range(rest)

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

    def stop(self, transfer: Lane) -> ByteRange | None:
        """Stop ``transfer`` where it has written to; its unwritten rest
        becomes pending and is returned."""
        self.active.remove(transfer)
        self.retired.append(transfer)
        if self.ledger is None:
            return None
        self.ledger.record_written(transfer, transfer.flushed)
        return self.ledger.release(transfer)

    def lost(self, transfer: Lane) -> ByteRange | None:
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

    def redirected(self, transfer: Lane) -> None:
        """The first request was answered with a redirect: it fetched no
        range of the file (and is not counted as one)."""
        self.active.remove(transfer)
        self.ranges -= 1

    def stalled(self, now: float, quiet_for: float) -> list[Lane]:
        """Running transfers that have received nothing for ``quiet_for``
        seconds (since their last byte, or since they were added)."""
        found = []
        for transfer in self.active:
            # Held back by the rate limit: silent by our choice, not the server's.
            last = max(transfer.seen_at or transfer.added_at, transfer.held_until)
            if last and now - last > quiet_for and not transfer.reached_end:
                found.append(transfer)
        return found

    def record_all(self) -> None:
        """Note what every running lane has written in the ledger (before a
        stop that keeps the file for a later run)."""
        ledger = self.ledger
        if ledger is None:
            return
        for transfer in self.active:
            if ledger.holding(transfer) is not None:
                ledger.record_written(transfer, transfer.flushed)

    def take_retired(self) -> list[Lane]:
        """The transfers stopped since the last call, for libcurl to drop."""
        retired, self.retired = self.retired, []
        return retired

    def stop_all(self) -> None:
        self.retired.extend(self.active)
        self.active.clear()
        self.queue.clear()

    def finished(self, transfer: Lane) -> None:
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
