"""One file's download as a state machine: events in, actions out.

States (``DownloadState``): QUEUED (no slot yet, no descriptor), PROBING
(the first request is out), RUNNING (planned ranges), VERIFYING (digests
being checked), DATING (an FTP file's date asked after its bytes), then
FINISHED or FAILED.

Events are the machine's methods: a slot granted (``start_transfer``), the
first answer inside the write callback (``first_answer``, arithmetic only),
the first answer outside libcurl (``plan``), a transfer's end
(``transfer_done``), the tick, a back-off that ran out (``retry_due``), the
digests' outcome, the commit, a stop (``fail``). Each returns the actions
(``job.actions``) for the driver to carry out: retire transfers, retry a
span after D seconds, write the journal, commit, fail with E. The machine
sets no timer, resolves no future, opens no file and never calls the
Downloader, so it never re-enters anything while it decides.

Its ranges (``RangeBook``) make the transfers and move bytes between them;
stopping a range flushes its buffer into the file (where it stops must be
exact), and a flush that fails becomes the file's failure here.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import time
from collections.abc import Callable
from pathlib import Path

import pycurl

from .._config import DownloadOptions
from .._exceptions import (
    CallbackError,
    ChecksumMismatchError,
    DownloadError,
    DownloadTimeout,
    RemoteFileChangedError,
    StorageError,
    TransportError,
)
from .._progress import ProgressSnapshot, SpeedMeter
from .._redact import redact_url
from ..engine.curl_errors import error_from_curl
from ..engine.transfer import RangeTransfer, Writer
from ..files.journal import JournalState
from ..files.stamps import LocalCopy
from ..files.verify import expected_digests
from ..protocol.ftpdialect import ListingUnusable
from ..protocol.probe import ProbeResult
from ..protocol.redirects import RedirectChain, Redirected
from ..protocol.urls import Origin
from ..ranges.plan import ByteRange
from ..schedule.scheduler import Rank
from . import actions as act
from .firstanswer import FirstAnswer
from .rangebook import RangeBook
from .recovery import Failure, Recovery
from .report import notice_for, result_of
from .state import AlreadyThere, DownloadState, StartOver

__all__ = ["FileMachine"]

_log = logging.getLogger(__name__)

Actions = list[act.Action]
OnProbe = Callable[[RangeTransfer, ProbeResult], "int | None"]

# How a server that takes no paths answers RETR dir/file (550); not 425,
# 450 or 451, which are passing troubles (libcurl: E_FTP_COULDNT_RETR_FILE).
_NOT_FOUND = {pycurl.E_REMOTE_FILE_NOT_FOUND}


class FileMachine:
    """The decisions of one file's download (see the module docstring).

    ``streamed``: the destination is a stream (a device, FIFO or descriptor),
    written in order, with no NAME.part, journal or date stamp.
    """

    def __init__(
        self,
        url: str,
        origin: Origin,
        path: Path,
        options: DownloadOptions,
        book: RangeBook,
        *,
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
        self.queued_at = time.monotonic()
        self.started_at = 0.0  # the first connection (elapsed and max_time count from it)
        self.first = FirstAnswer(self.public_url, path, local_copy)
        self.redirects = self._new_chain()
        self.recovery = Recovery(options.retry)
        self._path = path
        self._streamed = streamed
        self._writer: Writer | None = None  # NAME.part or the stream, once opened
        self._meter = SpeedMeter()
        self._last_check = 0.0
        self._verified = False  # the digests were checked
        self._date_query: RangeTransfer | None = None
        self._dated = False

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
        now = time.monotonic()
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
        return time.monotonic() - self.started_at if self.started_at else 0.0

    def _queued(self) -> float:
        return (self.started_at or time.monotonic()) - self.queued_at

    # ------------------------------------------------------------ a slot

    def storage_opened(self, writer: Writer, journal: JournalState | None) -> None:
        """The driver opened the file (and read its journal, when resuming)."""
        self._writer = writer
        self.first.journal_read(journal)

    @property
    def has_storage(self) -> bool:
        return self._writer is not None

    def start_transfer(
        self, on_probe: OnProbe, preconnect: Callable[[], int]
    ) -> tuple[RangeTransfer | None, Actions]:
        """A transfer for a slot just granted (None: none is worth one now).
        ``on_probe`` hears the first answer inside the write callback;
        ``preconnect`` says how many connections to open ahead meanwhile."""
        writer = self._writer
        if writer is None:
            return None, []
        try:
            if self.state is DownloadState.QUEUED:
                self.state = DownloadState.PROBING
                self.started_at = self.started_at or time.monotonic()
                first = self.first
                transfer = self.book.first(
                    writer,
                    on_probe,
                    first.start,
                    first.if_range,
                    first.may_list,
                    preconnect,
                    url=self.redirects.url,
                )
                return transfer, []
            if self.state is DownloadState.RUNNING:
                return self.book.next(writer), self._retired()
            if self.state is DownloadState.DATING and self._date_query is None:
                self._date_query = self.book.date_query(writer)
                return self._date_query, []
        except StorageError as exc:
            return None, self.fail(exc)
        return None, []

    # ------------------------------------------------------------ the first answer

    def first_answer(
        self, transfer: RangeTransfer, probe: ProbeResult, share: Callable[[], int]
    ) -> int | None:
        """Inside the write callback: where this first range ends (arithmetic
        only; ``plan`` applies the rest later). Raises the first answer's
        signals (``FirstAnswer.vet``). ``share``: the file's share of its
        host's free slots, fixed now (the Downloader counts it as promised)."""
        end = self._first_end(transfer, probe, share)
        # A stat (SFTP) fetched nothing: every planned range goes in line.
        return transfer.start if transfer.request.date_only else end

    def _first_end(
        self, transfer: RangeTransfer, probe: ProbeResult, share: Callable[[], int]
    ) -> int | None:
        self.first.vet(transfer.start, probe, self.url)
        book = self.book
        if self.first.journal is not None:
            assert probe.size is not None
            book.restored = self.first.restored
            return book.missing_end(transfer.start, probe.size)
        if probe.size is None or not probe.ranged:
            return probe.size
        promised = share()
        book.promised = promised
        plan = book.plan(probe.size, self._min_part()[0], promised)
        return plan[0].end if plan else probe.size

    def plan(self, transfer: RangeTransfer) -> Actions:
        """Plan the file from the first answer (once; outside libcurl)."""
        probe = transfer.probe_result
        book = self.book
        book.learn_dialect(transfer)
        usable = transfer.error is None and transfer in book.active
        if probe is None or not usable or book.probe is not None or self.state.is_over:
            return []
        min_part, option = self._min_part()
        self.state = DownloadState.RUNNING
        book.apply(probe, min_part, transfer)
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

    def transfer_done(
        self, transfer: RangeTransfer, code: int, message: str, *, host_serving: bool = False
    ) -> Actions:
        """``transfer`` ended with libcurl ``code`` (outside libcurl's callbacks).
        ``host_serving``: the host serves this run (its refusals spend no budget)."""
        if transfer is self._date_query:
            return self._dating_done(transfer, code)
        book = self.book
        book.learn_dialect(transfer)
        if transfer not in book.active or self.state.is_over:
            return []
        try:
            actions = self._settle(transfer, code, message)
        except DownloadError as exc:
            return self._failed(transfer, exc, host_serving)
        if self.state is DownloadState.RUNNING and book.complete and not book.queue:
            actions += self._finish()
        return actions

    def _settle(self, transfer: RangeTransfer, code: int, message: str) -> Actions:
        """Book a transfer's clean end; raises the error it ended with."""
        if transfer.error is None:
            try:
                transfer.flush()
            except StorageError as exc:
                transfer.error = exc
        if transfer.error is not None:
            raise transfer.error
        if code != 0 and not (code == pycurl.E_WRITE_ERROR and transfer.reached_end):
            raise error_from_curl(code, message, self.url)
        book = self.book
        if code == 0 and self.options.reuse_connections:
            book.profile.session_kept()
        if transfer.first_byte_at and not transfer.setup_noted:
            book.note_setup(transfer)
        if not transfer.head_checked:  # no body came: an empty file, or an error
            transfer.head_checked = True
            transfer.check_head()
        actions = self.plan(transfer) if transfer.probe else []
        book.learn_date(transfer)
        if transfer.end is not None and transfer.pos != transfer.end:
            raise TransportError(
                f"connection ended at byte {transfer.pos}, expected {transfer.end}", url=self.url
            )
        book.finished(transfer)
        return actions

    # ------------------------------------------------------------ failures

    def _failed(
        self, transfer: RangeTransfer, error: DownloadError, host_serving: bool = False
    ) -> Actions:
        """Fetch ``transfer``'s unwritten bytes again after a back-off, if the
        error may pass and the file's retry budget allows; else fail."""
        book = self.book
        if isinstance(error, StartOver):
            book.lost(transfer)
            return self._from_byte_zero()
        if isinstance(error, AlreadyThere):
            return self._skip(transfer)
        if isinstance(error, Redirected):
            return self._redirected(transfer, error.location)
        if transfer.probe:
            # A first request sent again starts from the file's own URL: a
            # redirect's target may be a signed link that has expired since.
            self.redirects = self._new_chain()
        if self._paths_refused(transfer, error):
            # Once more at once, outside the budget, with a CWD (the host remembers).
            return [act.RetryAfter(0.0, book.lost(transfer))]
        if isinstance(error, ListingUnusable):
            if error.refused:
                book.profile.ftp.listing_answered(False)
            return self._again_without_listing(transfer)
        failure = self._failure(transfer, error, host_serving)
        verdict = self.recovery.judge(failure, random.random())
        actions: Actions = [act.HoldHost(verdict.pause)] if verdict.refused else []
        if verdict.error is not None:
            return actions + self.fail(verdict.error)
        if self.state is DownloadState.PROBING and transfer.probe_result is not None:
            actions += self.plan(transfer)  # the size is known: plan, then retry this range
        rest = book.lost(transfer)
        if self.state is DownloadState.RUNNING and rest is None:
            # It had written all it held (the error came after its last byte).
            if book.complete and not book.queue:
                actions += self._finish()
            return actions
        actions.append(act.RetryAfter(verdict.delay, rest))
        return actions

    def _failure(
        self, transfer: RangeTransfer, error: DownloadError, host_serving: bool
    ) -> Failure:
        # Progress counts only where the bytes are kept: a file without byte
        # ranges (or of unknown size) starts again from its first byte.
        probe = self.book.probe or transfer.probe_result
        kept = probe is not None and probe.ranged and probe.size is not None
        replies = transfer.replies
        return Failure(
            error,
            ftp_reply=replies.last_code if transfer.is_ftp else None,
            ftp_text=replies.last_text,
            retry_after=None if transfer.is_ftp else transfer.head.retry_after,
            progressed=kept and transfer.flushed > transfer.start,
            streaming=self.state is DownloadState.RUNNING and self.book.ledger is None,
            host_serving=host_serving,
            file_bytes=self.book.bytes_done(),
        )

    def _paths_refused(self, transfer: RangeTransfer, error: DownloadError) -> bool:
        """A request by path answered "not found": the server may take no
        paths (see ``FtpDialect.paths_refused``)."""
        if self.options.ftp_file_method != "auto" or error.curl_code not in _NOT_FOUND:
            return False
        return transfer.request.names_a_directory and self.book.profile.ftp.paths_refused()

    def _again_without_listing(self, transfer: RangeTransfer) -> Actions:
        """MLST gave this file nothing usable: ask it again from the start,
        at once and outside the retry budget, with MDTM and SIZE. A plan
        already made from a listed size is dropped with its ranges."""
        book = self.book
        self.first.listing_failed = True
        book.lost(transfer)
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

    def _redirected(self, transfer: RangeTransfer, location: str) -> Actions:
        """The first request was answered with a redirect: the first request
        again, at once and outside the retry budget, to its target (the same
        bytes asked, as resuming may ask from byte N)."""
        self.book.redirected(transfer)
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

    def _skip(self, transfer: RangeTransfer) -> Actions:
        """Nothing to do: the destination is already the remote file."""
        book = self.book
        book.lost(transfer)
        book.stop_all()
        self.state = DownloadState.FINISHED
        probe = transfer.probe_result
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
            return self.fail(DownloadTimeout(f"not done after max_time={limit:g} s", url=self.url))
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
            try:
                book.replace_slow(now)
            except StorageError as exc:
                return actions + self.fail(exc)
            actions += self._retired()
        actions.append(act.ReportProgress())
        return actions

    def _stop_stalled(self, now: float) -> Actions:
        """A connection silent for ``stall_timeout`` is a failure, counted
        here exactly (libcurl's own low-speed check, the backstop, averages
        over a window of several seconds)."""
        quiet_for = self.options.stall_timeout
        actions: Actions = []
        for transfer in self.book.stalled(now, quiet_for):
            actions.append(act.Retire(transfer))
            try:
                transfer.flush()
            except StorageError as exc:
                return actions + self.fail(exc)
            error = DownloadTimeout(f"no data for {quiet_for:g} s", url=self.url)
            actions += self._failed(transfer, error)
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

    def _dating_done(self, transfer: RangeTransfer, code: int) -> Actions:
        """The date query is over (answered or not): stamp with what came, and finish."""
        self._date_query = None
        if code == 0:
            self.book.learn_date(transfer)
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
            actions.append(act.Retire(self._date_query))
            self._date_query = None
        book = self.book
        wrong = isinstance(error, (ChecksumMismatchError, RemoteFileChangedError, StartOver))
        keep = self.keeps_journal and book.ledger is not None and book.probe is not None
        keep = keep and not wrong
        if keep:
            book.flush_all()  # the journal names what reached the file
        book.stop_all()
        return [*actions, *self._retired(), act.Stop(error, keep, book.probe)]

    def _retired(self) -> Actions:
        return [act.Retire(transfer) for transfer in self.book.take_retired()]
