"""One file's download as a state machine, from its first slot to the commit.

A ``FileDownload`` never touches the multi handle or the connection slots. The
``Downloader`` asks it for transfers (``start_transfer``), tells it when one
ends (``transfer_done``) and ticks it; transfers it stops go to
``book.retired``, which the Downloader empties after every call (removing them
from libcurl and freeing their slots). Nothing here calls the Downloader while
it decides, so the scheduler is never re-entered.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import os
import random
import time
from pathlib import Path
from typing import Protocol

import pycurl

from ._config import DownloadOptions
from ._curl_errors import error_from_curl
from ._destination import Destination
from ._exceptions import (
    CallbackError,
    ChecksumMismatchError,
    DestinationExistsError,
    DownloadError,
    DownloadTimeout,
    RemoteFileChangedError,
    RetriesExhaustedError,
    StorageError,
    TransportError,
)
from ._integrity import Checksum, hash_descriptor
from ._names import Origin
from ._plan import ByteRange
from ._policy import RebalancePolicy, is_refusal, parse_retry_after
from ._probe import LocalCopy, ProbeResult, remote_stamp
from ._profile import HostProfile
from ._progress import DownloadResult, ProgressCallback, ProgressSnapshot, SpeedMeter
from ._ranges import RangeBook
from ._redact import redact_url
from ._report import notice_for, result_of
from ._resume import Resume
from ._sockets import SocketRegistry
from ._storage import PartFile, Storage
from ._stream import StreamFile
from ._transfer import BudgetHooks, RangeTransfer

__all__ = ["DownloadState", "FileDownload", "JobEvents"]


class DownloadState(enum.Enum):
    QUEUED = "queued"  # waiting for its first slot: holds no file descriptor
    PROBING = "probing"  # the first request is out; the size is not known yet
    RUNNING = "running"
    VERIFYING = "verifying"  # every byte is in; the checksum is being computed
    FINISHED = "finished"
    FAILED = "failed"

    @property
    def is_over(self) -> bool:
        return self in (DownloadState.FINISHED, DownloadState.FAILED)


class _StartOver(DownloadError):
    """The first answer is not the file the resume journal describes."""


class _AlreadyThere(DownloadError):
    """The destination already holds the remote file: nothing to download."""


class JobEvents(Protocol):
    def probe_ready(self, job: FileDownload, transfer: RangeTransfer) -> None:
        """The first answer arrived (called soon after, never inside libcurl)."""

    def retry_ready(self, job: FileDownload, rest: ByteRange | None) -> None:
        """A failed range's back-off is over (``rest``: its unwritten bytes;
        None: the first request is to be sent again)."""

    def host_refused(self, job: FileDownload) -> None:
        """``job``'s server refused one more connection."""

    def share_of_free_slots(self, job: FileDownload) -> int:
        """How many connections ``job`` may start on (arithmetic only: this is
        asked inside libcurl's write callback)."""


class FileDownload:
    """One file over several ranges. ``future`` gets the result or the error."""

    def __init__(
        self,
        url: str,
        origin: Origin,
        destination: Destination,
        options: DownloadOptions,
        progress: ProgressCallback | None,
        *,
        loop: asyncio.AbstractEventLoop,
        events: JobEvents,
        budget: BudgetHooks | None,
        storage: Storage | None = None,
        rebalance: RebalancePolicy | None = None,
        notice: str | None = None,
        sockets: SocketRegistry | None = None,
        profile: HostProfile | None = None,
    ) -> None:
        self.url = url  # the real URL: only transfers see it
        self.public_url = redact_url(url)  # what results and snapshots show
        self.origin = origin
        self.destination = destination
        self.options = options
        self.progress = progress
        self.notice = notice
        self.state = DownloadState.QUEUED
        self.storage = storage  # a NAME.part is opened when the first slot is granted
        self.book = RangeBook(
            url,
            origin.is_ftp,
            options,
            budget,
            rebalance or RebalancePolicy(),
            sockets=sockets,
            host=origin.host_key,
            profile=profile,
        )
        self.future: asyncio.Future[DownloadResult] = loop.create_future()
        self.started_at = time.monotonic()
        self._loop = loop
        self._events = events
        self._meter = SpeedMeter()
        self._last_check = 0.0
        self.retry = options.retry  # failures so far, shared by the file's ranges
        self._verified = False  # the digests were checked
        self._resume = Resume(loop, self.public_url)
        self.kept_part: Path | None = None  # NAME.part left for a later run
        # An existing file not to be overwritten: skipped if it is complete.
        self.local_copy: LocalCopy | None = None
        self._hashing: asyncio.Future[dict[str, str]] | None = None
        if isinstance(storage, StreamFile) and options.checksum is not None:
            storage.track_digest(Checksum.parse(options.checksum).algorithm)
        self._retry_timers: set[asyncio.TimerHandle] = set()

    # ------------------------------------------------------------ scheduling

    @property
    def host_key(self) -> str:
        return self.origin.host_key

    def wants_connection(self) -> bool:
        if self.state is DownloadState.QUEUED:
            return True
        return self.state is DownloadState.RUNNING and self.book.wants_more()

    def start_transfer(self) -> RangeTransfer | None:
        """A transfer for a slot just granted, or None if none is worth one now."""
        try:
            if self.state is DownloadState.QUEUED:
                if self.storage is None:
                    resume = self.options.resume
                    self.storage = PartFile(self.destination, self.url, keep_existing=resume)
                    if resume:
                        self._resume.load(self.storage)
                self.state = DownloadState.PROBING
                start, if_range = self._resume.start, self._resume.if_range
                return self.book.first(self.storage, self._on_probe, start, if_range)
            if self.state is DownloadState.RUNNING and self.storage is not None:
                return self.book.next(self.storage)
        except StorageError as exc:
            self.fail(exc)
        return None

    def _on_probe(self, transfer: RangeTransfer, probe: ProbeResult) -> int | None:
        """Inside the write callback: where this first range ends (arithmetic
        only), and an event to plan the rest later."""
        local = self.local_copy
        if local is not None:
            if local.is_copy_of(probe, self.public_url):
                raise _AlreadyThere("already complete", url=self.url)
            raise DestinationExistsError(
                f"{self.destination.path} already exists and is not the remote file "
                "(overwrite=True or --force replaces it)",
                url=self.url,
            )
        if self._resume.found is not None and not self._resume.holds(transfer.start, probe):
            raise _StartOver("the remote file changed since the last run", url=self.url)
        self._loop.call_soon(self._events.probe_ready, self, transfer)
        if self._resume.found is not None:
            assert probe.size is not None
            self.book.restore_from(self._resume.found.durable, probe.size)
            return self.book.missing_end(transfer.start)
        if probe.size is None or not probe.ranged:
            return probe.size
        # Fixed now, before the range runs past its end: the file's share of
        # the host's free slots (the Downloader counts it as promised).
        share = self._events.share_of_free_slots(self)
        self.book.promised = share
        plan = self.book.plan(probe.size, self._min_part()[0], share)
        return plan[0].end if plan else probe.size

    def _min_part(self) -> tuple[int, str]:
        """Every FTP part but the last costs a login: FTP parts are larger."""
        if self.origin.is_ftp:
            return self.options.ftp_min_part_size, "ftp_min_part_size"
        return self.options.min_part_size, "min_part_size"

    def apply_probe(self, transfer: RangeTransfer) -> None:
        """Plan the file from the first answer (once; outside libcurl)."""
        probe = transfer.probe_result
        usable = transfer.error is None and transfer in self.book.active
        if probe is not None and usable and self.book.probe is None and not self.state.is_over:
            self._start_running(probe, *self._min_part(), transfer)

    def _start_running(
        self, probe: ProbeResult, min_part: int, option: str, first: RangeTransfer
    ) -> None:
        self.state = DownloadState.RUNNING
        self.book.apply(probe, min_part, first)
        ledger = self.book.ledger
        if ledger is not None and isinstance(self.storage, PartFile) and self.options.resume:
            self._resume.attach(ledger)
            if self.book.restored:
                done = ledger.durable.total
                self.notice = f"resumed: {done} of {ledger.size} bytes were already on disk"
        if self._resume.changed:
            self.notice = "the remote file changed since the last run: downloaded it again"
        planned = self.book.target if probe.size else 1
        self.notice = self.notice or notice_for(probe, self.options, planned, min_part, option)
        if probe.size and self.storage is not None:
            try:
                self.storage.reserve(probe.size)
            except StorageError as exc:
                self.fail(exc)

    def finish_eta(self) -> float:
        """Bytes left per running connection: which file should be helped first."""
        book = self.book
        if book.ledger is None or not book.active:
            return 0.0
        return (book.ledger.size - book.bytes_done()) / len(book.active)

    @property
    def rank(self) -> tuple[int, float]:
        """The scheduler serves lower ranks first: planned ranges, then files
        not started yet, then splits of the file that would finish last."""
        if self.book.queue:
            return (0, 0.0)
        if self.state is DownloadState.QUEUED:
            return (1, 0.0)
        return (2, -self.finish_eta())

    # ------------------------------------------------------------ completion

    def transfer_done(self, transfer: RangeTransfer, code: int, message: str) -> None:
        """``transfer`` ended with libcurl ``code`` (outside libcurl's callbacks)."""
        if transfer not in self.book.active or self.state.is_over:
            transfer.close()
            return
        try:
            self._settle(transfer, code, message)
        except DownloadError as exc:
            self._retry_or_fail(transfer, exc)
            return
        finally:
            transfer.close()
        if self.state is DownloadState.RUNNING and self.book.complete and not self.book.queue:
            self._finish()

    def _settle(self, transfer: RangeTransfer, code: int, message: str) -> None:
        if transfer.error is None:
            try:
                transfer.flush()
            except StorageError as exc:
                transfer.error = exc
        if transfer.error is not None:
            raise transfer.error
        if code != 0 and not (code == pycurl.E_WRITE_ERROR and transfer.reached_end):
            raise error_from_curl(code, message, self.url)
        if transfer.first_byte_at and not transfer.setup_noted:
            self.book.note_setup(transfer)
        if not transfer.head_checked:  # no body came: an empty file, or an error
            transfer.head_checked = True
            transfer.check_head()
        if transfer.probe:
            self.apply_probe(transfer)
        if transfer.end is not None and transfer.pos != transfer.end:
            raise TransportError(
                f"connection ended at byte {transfer.pos}, expected {transfer.end}", url=self.url
            )
        self.book.finished(transfer)

    def _retry_or_fail(self, transfer: RangeTransfer, error: DownloadError) -> None:
        """Fetch ``transfer``'s unwritten bytes again after a back-off, if the
        error may pass and the file's retry budget allows; else fail."""
        if isinstance(error, _StartOver):
            self._start_over(transfer)
            return
        if isinstance(error, _AlreadyThere):
            self._skip(transfer)
            return
        reply = transfer.replies.last_code if transfer.is_ftp else None
        refused = is_refusal(error, reply, transfer.replies.last_text)
        if refused:
            self._events.host_refused(self)
        retryable = refused or self.retry.is_retryable(error, reply)
        unknown_size = self.state is DownloadState.RUNNING and self.book.ledger is None
        if isinstance(error, StorageError) or not retryable or self.retry.attempts == 0:
            self.fail(error)
            return
        if unknown_size:  # a stream to EOF: no byte to start again from
            self.fail(error)
            return
        # Progress counts only where the bytes are kept: a file without byte
        # ranges (or of unknown size) starts again from its first byte.
        probe = self.book.probe or transfer.probe_result
        kept = probe is not None and probe.ranged and probe.size is not None
        progressed = kept and transfer.flushed > transfer.start
        if progressed:
            # A connection that delivered and then broke says nothing of the
            # next one: the budget and the back-off count failures in a row.
            self.retry = self.options.retry
        try:
            self.retry = self.retry.increment(error)
        except RetriesExhaustedError as exhausted:
            self.fail(exhausted)
            return
        if self.state is DownloadState.PROBING and transfer.probe_result is not None:
            self.apply_probe(transfer)  # the size is known: plan, then retry this range
        rest = self.book.lost(transfer)
        if self.state is DownloadState.RUNNING and rest is None:
            # It had written all it held (the error came after its last byte).
            if self.book.complete and not self.book.queue:
                self._finish()
            return
        retry_after = None
        if not transfer.is_ftp and transfer.head.retry_after is not None:
            retry_after = parse_retry_after(transfer.head.retry_after)
        delay = self.retry.backoff(random.random(), retry_after)
        if progressed and retry_after is None:
            delay = 0.0  # it was working: go on at once
        handle = self._loop.call_later(delay, self._retry_now, rest)
        self._retry_timers.add(handle)

    def _skip(self, transfer: RangeTransfer) -> None:
        """Nothing to do: the destination is already the remote file."""
        self.book.lost(transfer)
        self.book.stop_all()
        if self.storage is not None:
            self.storage.discard()  # an empty NAME.part of our own
        self.state = DownloadState.FINISHED
        probe = transfer.probe_result
        size = probe.size if probe is not None and probe.size is not None else 0
        result = result_of(
            self.public_url, probe, self.destination.path, size,
            time.monotonic() - self.started_at, (0, 0, 0, 0),
            "already complete: skipped",
        )  # fmt: skip
        if not self.future.done():
            self.future.set_result(dataclasses.replace(result, skipped=True))

    def _start_over(self, transfer: RangeTransfer) -> None:
        """The journal's file is gone from the server: empty NAME.part and send
        the first request again, from byte 0."""
        self.book.lost(transfer)
        if isinstance(self.storage, PartFile):
            try:
                self.storage.start_over()
            except StorageError as exc:
                self.fail(exc)
                return
        self._loop.call_soon(self._retry_now, None)

    def _retry_now(self, rest: ByteRange | None) -> None:
        self._retry_timers = {
            h for h in self._retry_timers if not h.cancelled() and h.when() > self._loop.time()
        }
        if self.state.is_over:
            return
        if rest is not None:
            self.book.queue.appendleft(rest)
        elif self.state is DownloadState.PROBING:
            self.state = DownloadState.QUEUED  # the first request again
        self._events.retry_ready(self, rest)

    def _expected_digests(self) -> list[Checksum]:
        expected = list(self.book.probe.digests) if self.book.probe else []
        if self.options.checksum is not None:
            expected.insert(0, Checksum.parse(self.options.checksum))
        return expected

    def _verify_then_finish(self, expected: list[Checksum], size: int) -> None:
        """Hash what arrived in a worker thread, then compare and finish."""
        self.state = DownloadState.VERIFYING
        algorithms = {c.algorithm for c in expected}
        storage = self.storage
        if isinstance(storage, StreamFile):
            self._check_digests(expected, storage.digests(), size)
            return
        assert isinstance(storage, PartFile)
        # A copy of the descriptor: a cancellation may close the file meanwhile.
        fd = os.dup(storage.fd)

        def hash_copy() -> dict[str, str]:
            try:
                return hash_descriptor(fd, size, algorithms)
            finally:
                os.close(fd)

        work = self._loop.run_in_executor(None, hash_copy)
        work.add_done_callback(lambda done: self._hashed(done, expected, size))
        self._hashing = work

    def _hashed(
        self, done: asyncio.Future[dict[str, str]], expected: list[Checksum], size: int
    ) -> None:
        if self.state is not DownloadState.VERIFYING or done.cancelled():
            return
        error = done.exception()
        if error is not None:
            self.fail(StorageError(f"could not read the file back: {error}", url=self.url))
            return
        self._check_digests(expected, done.result(), size)

    def _check_digests(self, expected: list[Checksum], actual: dict[str, str], size: int) -> None:
        for checksum in expected:
            got = actual.get(checksum.algorithm)
            if got != checksum.hex:
                self.fail(
                    ChecksumMismatchError(
                        f"{checksum.algorithm} of the {size} bytes received is {got}, "
                        f"but {checksum.source} is {checksum.hex}",
                        url=self.url,
                        algorithm=checksum.algorithm,
                        expected=checksum.hex,
                        actual=got or "",
                    )
                )
                return
        self._verified = True
        self._finish()

    def _finish(self) -> None:
        book = self.book
        assert book.ledger is not None and self.storage is not None
        size = book.ledger.size
        expected = self._expected_digests()
        if expected and not self._verified:
            self._verify_then_finish(expected, size)
            return
        if isinstance(self.storage, PartFile):
            self.storage.stamp(*remote_stamp(book.probe, self.public_url))
        try:
            self.storage.commit(size, self.options.fsync)
        except StorageError as exc:
            self.fail(exc)
            return
        self.state = DownloadState.FINISHED
        self._report_progress()  # the final 100% snapshot
        counts = (book.max_active, book.ranges, book.splits, book.reconnects)
        elapsed = time.monotonic() - self.started_at
        path = self.storage.final_path
        result = result_of(self.public_url, book.probe, path, size, elapsed, counts, self.notice)
        if not self.future.done():
            self.future.set_result(result)

    def fail(self, exc: DownloadError | None) -> None:
        """Stop every transfer, delete NAME.part, and report ``exc`` (None:
        cancelled by the caller, with nobody left to tell)."""
        if self.state.is_over:
            return
        self.state = DownloadState.FAILED
        if self._hashing is not None:
            self._hashing.cancel()  # the thread finishes on its own copy of the descriptor
        for handle in self._retry_timers:
            handle.cancel()
        self._retry_timers.clear()
        storage = self.storage
        if isinstance(storage, PartFile) and self._keeps_state(exc):
            self.book.flush_all()
            self.book.stop_all()
            assert self.book.probe is not None
            if self._resume.write_now(storage, self.book.probe):
                storage.keep()
                self.kept_part = storage.part_path
        self.book.stop_all()
        if storage is not None and not storage.closed:
            storage.discard()
        if self.future.done():
            return
        if exc is None:
            self.future.cancel()
        else:
            self.future.set_exception(exc)

    def _stop_stalled(self, now: float) -> bool:
        """A connection silent for ``stall_timeout`` is a failure, counted
        here exactly (libcurl's own low-speed check, the backstop, averages
        over a window of several seconds). Returns whether the download is over."""
        quiet_for = self.options.stall_timeout
        for transfer in self.book.stalled(now, quiet_for):
            self.book.retired.append(transfer)  # the Downloader removes it from libcurl
            try:
                transfer.flush()
            except StorageError as exc:
                self.fail(exc)
                return True
            error = DownloadTimeout(f"no data for {quiet_for:g} s", url=self.url)
            self._retry_or_fail(transfer, error)
            if self.state.is_over:
                return True
        return False

    def _keeps_state(self, exc: DownloadError | None) -> bool:
        """Whether a stop leaves NAME.part and its journal for a later run:
        when resuming is on and bytes of a known file are on disk, unless the
        bytes themselves are wrong."""
        wrong = (ChecksumMismatchError, RemoteFileChangedError, _StartOver)
        return (
            self.options.resume
            and self.book.ledger is not None
            and self.book.probe is not None
            and not isinstance(exc, wrong)
        )

    # ---------------------------------------------------------- the tick

    def tick(self, now: float) -> None:
        """Every 0.1 s while running: positions, slow connections, progress."""
        if self.state.is_over:
            return
        limit = self.options.max_time
        if limit is not None and now - self.started_at > limit:
            self.fail(DownloadTimeout(f"not done after max_time={limit:g} s", url=self.url))
            return
        self.book.observe(now)
        if self._stop_stalled(now):
            return
        storage, probe = self.storage, self.book.probe
        running = self.state is DownloadState.RUNNING
        if running and isinstance(storage, PartFile) and self.options.resume and probe:
            self._resume.maybe_write(now, storage, probe)
        if self.state is DownloadState.RUNNING and now - self._last_check >= (
            self.book.rebalance.check_every
        ):
            self._last_check = now
            try:
                self.book.replace_slow(now)
            except StorageError as exc:
                self.fail(exc)
                return
        self._report_progress()

    def _report_progress(self) -> None:
        if self.progress is None:
            return
        try:
            self.progress(self.snapshot())
        except Exception as exc:
            if self.state is DownloadState.FINISHED:
                return  # the file is complete: a display error must not undo it
            error = CallbackError(f"the progress callback raised {exc!r}", url=self.url)
            error.__cause__ = exc
            self.fail(error)

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
            elapsed=now - self.started_at,
            notice=self.notice,
        )
