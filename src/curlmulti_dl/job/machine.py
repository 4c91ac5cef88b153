"""One file's download as a state machine: events in, actions out, no I/O.

States (``DownloadState``): QUEUED (no slot yet, no descriptor), PROBING
(the first request is out), RUNNING (planned ranges), VERIFYING (digests
being checked), DATING (an FTP file's date asked after its bytes), then
FINISHED or FAILED.

Events are the machine's methods: the file opened (``file_opened``), a slot
granted (``slot_granted``), the first answer inside the write callback
(``first_answer``, arithmetic only), the first answer outside libcurl
(``plan``), a transfer's end (``transfer_done``, an ``Ended``), the tick, a
back-off that ran out (``retry_due``), the digests' outcome, the commit, a
stop (``fail``). Each returns the actions (``job.actions``) for the driver to
carry out: start a range, end a transfer, retry a span after D seconds,
write the journal, commit, fail with E.

The machine imports neither pycurl nor the engine: it sets no timer,
resolves no future, opens no file and writes no byte, and reads the time
and its jitter from what it is given. A transfer is a ``Lane`` (plain data)
in which the driver's transfer records where its bytes are; the driver
writes a lane's buffer out before each event, so that what a lane has
``flushed`` is what the machine books (the journal never names a byte that
is not in the file).
"""

from __future__ import annotations

import dataclasses
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .._config import DownloadOptions
from .._exceptions import (
    CallbackError,
    ChecksumMismatchError,
    DownloadError,
    DownloadTimeoutError,
    RemoteFileChangedError,
    TransportError,
)
from .._progress import ProgressSnapshot, SpeedMeter
from .._redact import redact_url
from ..files.journal import JournalState
from ..files.stamps import LocalCopy
from ..files.verify import expected_digests
from ..protocol.probe import ProbeResult
from ..protocol.redirects import RedirectChain
from ..protocol.urls import Origin
from ..ranges.lane import Ending, Lane, read_answer
from ..ranges.plan import ByteRange
from ..schedule.scheduler import Rank
from . import actions as act
from .firstanswer import FirstAnswer, Verdict
from .rangebook import RangeBook
from .recovery import Failure, Recovery
from .report import notice_for, result_of
from .state import DownloadState

__all__ = ["Ended", "FileMachine"]

_log = logging.getLogger(__name__)

Actions = list[act.Action]


@dataclass(frozen=True)
class Ended:
    """Lane ``lane_id``'s transfer ended, ``ending`` as libcurl says; ``error``:
    libcurl's error (None when it ended cleanly); ``host_serving``: the host
    serves this run (its refusals spend no retry budget)."""

    lane_id: int
    ending: Ending
    error: DownloadError | None = None
    host_serving: bool = False


class FileMachine:
    """The decisions of one file's download (see the module docstring).

    ``streamed``: the destination is a stream (a device, FIFO or descriptor),
    written in order, with no NAME.part, journal or date stamp. ``share``:
    how many connections the file may start on (the host's free slots, fixed
    at the first answer). ``clock`` and ``jitter`` (in [0, 1), to spread
    back-offs) are the machine's only sources of time and chance.

    Example::

        machine = FileMachine(url, parse_origin(url), Path("f"), DownloadOptions(),
                              book, share=lambda: 4, clock=time.monotonic)
        machine.file_opened(None)
        [start] = machine.slot_granted()      # StartRange(lane): the first request
    """

    def __init__(
        self,
        url: str,
        origin: Origin,
        path: Path,
        options: DownloadOptions,
        book: RangeBook,
        *,
        share: Callable[[], int],
        clock: Callable[[], float] = time.monotonic,
        jitter: Callable[[], float] = random.random,
        streamed: bool = False,
        local_copy: LocalCopy | None = None,
        notice: str | None = None,
    ) -> None:
        self.url = url  # the real URL: only transfers see it
        self.public_url = redact_url(url)  # what results and snapshots show
        self.origin = origin
        self.options = options
        self.book = book
        self.state = DownloadState.QUEUED
        self.notice = notice
        self._clock = clock
        self._jitter = jitter
        self._share = share
        self.queued_at = clock()
        self.started_at = 0.0  # the first connection (elapsed and max_time count from it)
        self.first = FirstAnswer(self.public_url, path, local_copy)
        self.redirects = self._new_chain()
        self.recovery = Recovery(options.retry)
        self._path = path
        self._streamed = streamed
        self._opened = streamed  # NAME.part (or the stream) is open
        self._meter = SpeedMeter()
        self._last_check = 0.0
        self._verified = False  # the digests were checked
        self._date_query: Lane | None = None
        self._dated = False
        self._halt: Verdict | None = None  # why the first answer stopped its transfer

    # ------------------------------------------------------------ queries

    @property
    def keeps_journal(self) -> bool:
        return not self._streamed and self.options.resume

    def wants_connection(self) -> bool:
        if self.state is DownloadState.QUEUED:
            return True
        if self.state is DownloadState.DATING:
            return self._date_query is None
        return self.state is DownloadState.RUNNING and self.book.wants_more()

    @property
    def rank(self) -> tuple[int, float]:
        """The scheduler serves lower ranks first: planned ranges, then files
        not started yet, then splits of the file that would finish last."""
        if self.book.queue or self.state is DownloadState.DATING:
            return (Rank.PLANNED, 0.0)
        if self.state is DownloadState.QUEUED:
            return (Rank.NEW, 0.0)
        return (Rank.SPLIT, -self.finish_eta())

    def finish_eta(self) -> float:
        """Bytes left per running connection: which file should be helped first."""
        book = self.book
        if book.ledger is None or not book.active:
            return 0.0
        return (book.ledger.size - book.bytes_done()) / len(book.active)

    def snapshot(self) -> ProgressSnapshot:
        now = self._clock()
        done = self.book.bytes_done()
        probe = self.book.probe
        return ProgressSnapshot(
            url=self.public_url,
            bytes_done=done,
            total=probe.size if probe else None,
            speed=self._meter.add(now, done),
            connections=len(self.book.active),
            elapsed=now - self.started_at if self.started_at else 0.0,
            notice=self.notice,
        )

    def _elapsed(self) -> float:
        return self._clock() - self.started_at if self.started_at else 0.0

    def _queued(self) -> float:
        return (self.started_at or self._clock()) - self.queued_at

    # ------------------------------------------------------------ a slot

    def file_opened(self, journal: JournalState | None) -> None:
        """The driver opened NAME.part (and read its journal, when resuming)."""
        self._opened = True
        self.first.journal_read(journal)

    @property
    def has_storage(self) -> bool:
        return self._opened

    def slot_granted(self) -> Actions:
        """A slot is free for this file: a ``StartRange`` if a range is worth it."""
        if not self._opened:
            return []
        if self.state is DownloadState.QUEUED:
            self.state = DownloadState.PROBING
            self.started_at = self.started_at or self._clock()
            first = self.first
            lane = self.book.first(
                first.start, first.if_range, first.may_list, url=self.redirects.url
            )
            return [act.StartRange(lane)]
        if self.state is DownloadState.RUNNING:
            planned = self.book.next()
            retired = self._retired()  # a quiet tail taken over ends first
            return [*retired, act.StartRange(planned)] if planned is not None else retired
        if self.state is DownloadState.DATING and self._date_query is None:
            self._date_query = self.book.date_query()
            return [act.StartRange(self._date_query)]
        return []

    # ------------------------------------------------------------ the first answer

    def first_answer(self, lane: Lane, probe: ProbeResult) -> int | None:
        """Inside the write callback: where this first range ends (arithmetic
        only; ``plan`` applies the rest later). An answer not to be downloaded
        halts the lane (``lane.halted``), and its end says what follows."""
        verdict = self.first.vet(lane.start, probe)
        if verdict is not Verdict.TAKE:
            self._halt = verdict
            lane.halted = True
            if verdict is Verdict.IN_THE_WAY:
                lane.error = self.first.in_the_way(self.url)
            return lane.end
        end = self._first_end(lane, probe)
        # A stat (SFTP) fetched nothing: every planned range goes in line.
        return lane.start if lane.request.date_only else end

    def _first_end(self, lane: Lane, probe: ProbeResult) -> int | None:
        book = self.book
        if self.first.journal is not None:
            assert probe.size is not None
            book.restored = self.first.restored
            return book.missing_end(lane.start, probe.size)
        if probe.size is None or not probe.ranged:
            return probe.size
        min_part = self._min_part()[0]
        # The host's free slots are asked (a look over its files) only for
        # a file large enough to be split: most files of a batch are not.
        splits = len(book.plan(probe.size, min_part)) > 1
        promised = self._share() if splits else 1
        book.promised = promised
        plan = book.plan(probe.size, min_part, promised)
        return plan[0].end if plan else probe.size

    def plan(self, lane_id: int) -> Actions:
        """Plan the file from the first answer (once; outside libcurl)."""
        lane = self.book.find(lane_id)
        if lane is None:
            return []
        probe = lane.probe_result
        book = self.book
        book.learn_dialect(lane)
        usable = lane.error is None and not lane.answered_aside
        if probe is None or not usable or book.probe is not None or self.state.is_over:
            return []
        min_part, option = self._min_part()
        self.state = DownloadState.RUNNING
        book.apply(probe, min_part, lane)
        actions: Actions = []
        ledger = book.ledger
        if ledger is not None and self.keeps_journal:
            actions.append(act.JournalFrom(ledger))
            if book.restored:
                done = ledger.durable.total
                self.notice = f"resumed: {done} of {ledger.size} bytes were already on disk"
        if self.first.changed:
            self.notice = "the remote file changed since the last run: downloaded it again"
        planned = book.target if probe.size else 1
        self.notice = self.notice or notice_for(probe, self.options, planned, min_part, option)
        if probe.size:
            actions.append(act.Reserve(probe.size))
        return actions

    def _min_part(self) -> tuple[int, str]:
        """Every FTP part but the last costs a login (every SFTP part an SSH
        session): their parts are larger."""
        if self.origin.is_ftp or self.origin.is_sftp:
            return self.options.ftp_min_part_size, "ftp_min_part_size"
        return self.options.min_part_size, "min_part_size"

    # ------------------------------------------------------------ a transfer's end

    def transfer_done(self, ended: Ended) -> Actions:
        """A lane's transfer ended (outside libcurl's callbacks; its buffer
        written out, unless it failed on its side)."""
        query = self._date_query
        if query is not None and query.id == ended.lane_id:
            return self._dating_done(query, ended)
        book = self.book
        lane = book.find(ended.lane_id)
        if lane is None:
            return []  # stopped here already
        book.learn_dialect(lane)
        if self.state.is_over:
            return []
        try:
            actions = self._settle(lane, ended)
        except DownloadError as exc:
            not_found = ended.ending is Ending.NOT_FOUND
            return self._failed(lane, exc, ended.host_serving, not_found=not_found)
        if self.state is DownloadState.RUNNING and book.complete and not book.queue:
            actions += self._finish()
        return actions

    def _settle(self, lane: Lane, ended: Ended) -> Actions:
        """Book a lane's clean end, or follow what its answer asked; raises
        the error it ended with."""
        if lane.error is not None:
            raise lane.error
        signalled = self._signalled(lane)
        if signalled is not None:
            return signalled
        if ended.error is not None and not (ended.ending is Ending.CUT and lane.reached_end):
            raise ended.error
        book = self.book
        if ended.ending is Ending.DONE and self.options.reuse_connections:
            book.profile.session_kept()
        if lane.first_byte_at and not lane.setup_noted:
            book.note_setup(lane)
        if not lane.head_checked:  # no body came: an empty file, an error, a stat
            self._read_late_answer(lane)
            signalled = self._signalled(lane)
            if signalled is not None:
                return signalled
        actions = self.plan(lane.id) if lane.probe else []
        book.learn_date(lane)
        if lane.end is not None and lane.pos != lane.end:
            raise TransportError(
                f"connection ended at byte {lane.pos}, expected {lane.end}", url=self.url
            )
        book.finished(lane)
        return actions

    def _read_late_answer(self, lane: Lane) -> None:
        """The answer of a transfer that brought no byte, read at its end."""
        lane.head_checked = True
        probe = read_answer(lane)  # raises what the answer is not
        if probe is not None and lane.redirect is None:
            lane.probe_result = probe
            lane.end = self.first_answer(lane, probe)
            lane.natural_end = probe.size
        if lane.error is not None:
            raise lane.error

    def _signalled(self, lane: Lane) -> Actions | None:
        """What a first answer that is not the file's data asks, if it is one:
        a redirect, an MLST of no use, or a verdict of ``FirstAnswer``."""
        if lane.redirect is not None:
            return self._redirected(lane, lane.redirect)
        if lane.listing_refused is not None:
            if lane.listing_refused:
                self.book.profile.ftp.listing_answered(False)
            return self._again_without_listing(lane)
        if not lane.halted:
            return None
        if self._halt is Verdict.ALREADY_THERE:
            return self._skip(lane)
        self.book.lost(lane)  # Verdict.START_OVER: the journal's file is gone
        return self._from_byte_zero()

    # ------------------------------------------------------------ failures

    def _failed(
        self,
        lane: Lane,
        error: DownloadError,
        host_serving: bool = False,
        *,
        not_found: bool = False,
    ) -> Actions:
        """Fetch ``lane``'s unwritten bytes again after a back-off, if the
        error may pass and the file's retry budget allows; else fail."""
        book = self.book
        if lane.probe:
            # A first request sent again starts from the file's own URL: a
            # redirect's target may be a signed link that has expired since.
            self.redirects = self._new_chain()
        if not_found and self._paths_refused(lane):
            # Once more at once, outside the budget, with a CWD (the host remembers).
            return [act.RetryAfter(0.0, book.lost(lane))]
        failure = self._failure(lane, error, host_serving)
        verdict = self.recovery.judge(failure, self._jitter())
        actions: Actions = [act.HoldHost(verdict.pause)] if verdict.refused else []
        if verdict.error is not None:
            return actions + self.fail(verdict.error)
        if self.state is DownloadState.PROBING and lane.probe_result is not None:
            actions += self.plan(lane.id)  # the size is known: plan, then retry this range
        rest = book.lost(lane)
        if self.state is DownloadState.RUNNING and rest is None:
            # It had written all it held (the error came after its last byte).
            if book.complete and not book.queue:
                actions += self._finish()
            return actions
        actions.append(act.RetryAfter(verdict.delay, rest))
        return actions

    def _failure(self, lane: Lane, error: DownloadError, host_serving: bool) -> Failure:
        # Progress counts only where the bytes are kept: a file without byte
        # ranges (or of unknown size) starts again from its first byte.
        probe = self.book.probe or lane.probe_result
        kept = probe is not None and probe.ranged and probe.size is not None
        replies = lane.replies
        return Failure(
            error,
            ftp_reply=replies.last_code if lane.is_ftp else None,
            ftp_text=replies.last_text,
            retry_after=None if lane.is_ftp else lane.head.retry_after,
            progressed=kept and lane.flushed > lane.start,
            streaming=self.state is DownloadState.RUNNING and self.book.ledger is None,
            host_serving=host_serving,
            file_bytes=self.book.bytes_done(),
        )

    def _paths_refused(self, lane: Lane) -> bool:
        """A request by path answered "not found" (RETR dir/file: 550; not 425,
        450 or 451, which are passing troubles): the server may take no paths
        (see ``FtpDialect.paths_refused``)."""
        if self.options.ftp_file_method != "auto":
            return False
        return lane.request.names_a_directory and self.book.profile.ftp.paths_refused()

    def _again_without_listing(self, lane: Lane) -> Actions:
        """MLST gave this file nothing usable: ask it again from the start,
        at once and outside the retry budget, with MDTM and SIZE. A plan
        already made from a listed size is dropped with its ranges."""
        book = self.book
        self.first.listing_failed = True
        book.lost(lane)
        actions: Actions = []
        if book.probe is not None:
            book.stop_all()
            actions = self._retired()
            book.forget_plan()
        self.state = DownloadState.PROBING  # so that the retry is a first request
        return actions + self._from_byte_zero()

    def _new_chain(self) -> RedirectChain:
        options = self.options
        return RedirectChain(
            self.url, options.max_redirects, allow_insecure=options.allow_insecure_redirects
        )

    def _redirected(self, lane: Lane, location: str) -> Actions:
        """The first request was answered with a redirect: the first request
        again, at once and outside the retry budget, to its target (the same
        bytes asked, as resuming may ask from byte N)."""
        self.book.redirected(lane)
        chain = self.redirects
        try:
            chain.follow(location)
        except DownloadError as exc:
            return self.fail(exc)
        note = chain.left_behind(self.options.headers, self.options.auth is not None)
        if note is not None:
            _log.debug(note)
        return [act.RetryAfter(0.0, None)]

    def _from_byte_zero(self) -> Actions:
        """Empty NAME.part and send the first request again, soon (from the
        file's own URL, as any first request sent again)."""
        self.redirects = self._new_chain()
        reset: Actions = [] if self._streamed else [act.ResetPart()]
        return [*reset, act.RetryAfter(0.0, None)]

    def _skip(self, lane: Lane) -> Actions:
        """Nothing to do: the destination is already the remote file."""
        book = self.book
        book.lost(lane)
        book.stop_all()
        self.state = DownloadState.FINISHED
        probe = lane.probe_result
        size = probe.size if probe is not None and probe.size is not None else 0
        result = result_of(
            self.public_url, probe, self._path, size, self._elapsed(), (0, 0, 0, 0),
            "already complete: skipped", self._queued(),
        )  # fmt: skip
        skipped = dataclasses.replace(result, skipped=True)
        return [*self._retired(), act.Discard(), act.Resolve(skipped)]

    def retry_due(self, rest: ByteRange | None) -> bool:
        """A back-off ran out: put ``rest`` (None: the first request) back in
        line. Returns whether the file still wants its slot."""
        if self.state.is_over:
            return False
        if rest is not None:
            self.book.queue.appendleft(rest)
        elif self.state is DownloadState.PROBING:
            self.state = DownloadState.QUEUED  # the first request again
        return True

    # ------------------------------------------------------------ the tick

    def tick(self, now: float) -> Actions:
        """Every 0.1 s while running: the time limit, silent connections, the
        journal, slow connections, progress."""
        if self.state.is_over:
            return []
        limit = self.options.max_time
        if limit is not None and now - self.started_at > limit:
            late = DownloadTimeoutError(f"not done after max_time={limit:g} s", url=self.url)
            return self.fail(late)
        book = self.book
        book.observe(now)
        actions = self._stop_stalled(now)
        if self.state.is_over:
            return actions
        running = self.state is DownloadState.RUNNING
        if running and self.keeps_journal and book.probe is not None:
            actions.append(act.WriteJournal(now, book.probe))
        if running and now - self._last_check >= book.rebalance.check_every:
            self._last_check = now
            book.replace_slow(now)
            actions += self._retired()
        actions.append(act.ReportProgress())
        return actions

    def _stop_stalled(self, now: float) -> Actions:
        """A connection silent for ``stall_timeout`` is a failure, counted
        here exactly (libcurl's own low-speed check, the backstop, averages
        over a window of several seconds)."""
        quiet_for = self.options.stall_timeout
        actions: Actions = []
        for lane in self.book.stalled(now, quiet_for):
            actions.append(act.Retire(lane.id))
            error = DownloadTimeoutError(f"no data for {quiet_for:g} s", url=self.url)
            actions += self._failed(lane, error)
            if self.state.is_over:
                break
        return actions

    # ------------------------------------------------------------ the end

    def _finish(self) -> Actions:
        """Every byte is in: check the digests, ask the date, then commit."""
        book = self.book
        assert book.ledger is not None
        size = book.ledger.size
        expected = expected_digests(book.probe, self.options.checksum)
        if expected and not self._verified:
            self.state = DownloadState.VERIFYING
            return [act.CheckDigests(size, tuple(expected))]
        if self._wants_date():
            self._dated = True
            self.state = DownloadState.DATING
            return [act.WantSlot()]
        return [act.Commit(size, book.probe)]

    def digests_checked(self, error: DownloadError | None) -> Actions:
        if self.state is not DownloadState.VERIFYING:
            return []  # stopped meanwhile
        if error is not None:
            return self.fail(error)
        self._verified = True
        return self._finish()

    def _wants_date(self) -> bool:
        """An FTP file with no date to be stamped with (its first answer had
        none): asked after its bytes, on a cached session of the host, by a
        transfer without a body (libcurl's own CWDs, then MDTM, in its state
        machine). An MDTM after the data on the same transfer would be waited
        for blocking the event loop: 3 s of stalls for 60 small files 100 ms
        away; a QUOTE would be sent before libcurl's CWD."""
        probe = self.book.probe
        return (
            self.origin.is_ftp
            and not self._dated
            and probe is not None
            and probe.last_modified is None
            and not self._streamed
        )

    def _dating_done(self, query: Lane, ended: Ended) -> Actions:
        """The date query is over (answered or not): stamp with what came, and finish."""
        self._date_query = None
        if ended.ending is Ending.DONE:
            self.book.learn_date(query)
        if self.state is DownloadState.DATING:
            return self._finish()
        return []

    def committed(self, path: Path) -> Actions:
        """The file is at its final ``path``."""
        self.state = DownloadState.FINISHED
        book = self.book
        assert book.ledger is not None
        counts = (book.max_active, book.ranges, book.splits, book.reconnects)
        size = book.ledger.size
        result = result_of(
            self.public_url, book.probe, path, size, self._elapsed(), counts, self.notice,
            self._queued(),
        )  # fmt: skip
        return [act.ReportProgress(), act.Resolve(result)]  # the final 100% snapshot first

    def callback_failed(self, exc: Exception) -> Actions:
        """The progress callback raised: the download fails, unless it is
        complete (a display error must not undo a file)."""
        if self.state is DownloadState.FINISHED:
            return []
        error = CallbackError(f"the progress callback raised {exc!r}", url=self.url)
        error.__cause__ = exc
        return self.fail(error)

    def fail(self, error: DownloadError | None) -> Actions:
        """Stop every transfer and report ``error`` (None: cancelled by the
        caller, with nobody left to tell). NAME.part is kept for a later run
        when resuming is on and bytes of a known file are on disk, unless the
        bytes themselves are wrong; else it is removed."""
        if self.state.is_over:
            return []
        self.state = DownloadState.FAILED
        actions: Actions = []
        if self._date_query is not None:
            actions.append(act.Retire(self._date_query.id))
            self._date_query = None
        book = self.book
        wrong = isinstance(error, (ChecksumMismatchError, RemoteFileChangedError))
        keep = self.keeps_journal and book.ledger is not None and book.probe is not None
        keep = keep and not wrong
        if keep:
            book.record_all()  # the journal names what reached the file
        book.stop_all()
        return [*actions, *self._retired(), act.Stop(error, keep, book.probe)]

    def _retired(self) -> Actions:
        return [act.Retire(lane.id) for lane in self.book.take_retired()]
