"""What a file download does when something goes wrong: retry a range
from its first unwritten byte after a back-off, start over when the journal's
file is gone, skip a file that is already there, stop a silent connection,
and decide whether a stop keeps NAME.part for a later run.

A mixin of ``FileDownload`` (one concept per module): it uses the download's
state and calls back into it (``fail``, ``apply_probe``, ``_finish``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import time
from typing import TYPE_CHECKING, cast

import pycurl

from ._config import DownloadOptions
from ._destination import Destination
from ._exceptions import (
    ChecksumMismatchError,
    DownloadError,
    DownloadTimeout,
    RemoteFileChangedError,
    RetriesExhaustedError,
    StorageError,
)
from ._jobstate import AlreadyThere, DownloadState, JobEvents, ListingUnusable, StartOver
from ._plan import ByteRange
from ._policy import RetryPolicy, is_refusal, parse_retry_after
from ._progress import DownloadResult
from ._ranges import RangeBook
from ._report import result_of
from ._storage import PartFile, Storage
from ._transfer import RangeTransfer

if TYPE_CHECKING:
    from ._download import FileDownload

__all__ = ["Recovery"]

# How a server that takes no paths answers RETR dir/file (550); not 425,
# 450 or 451, which are passing troubles (libcurl: E_FTP_COULDNT_RETR_FILE).
_NOT_FOUND = {pycurl.E_REMOTE_FILE_NOT_FOUND}


class Recovery:
    """Failure handling of ``FileDownload`` (see the module docstring)."""

    url: str
    public_url: str
    destination: Destination
    options: DownloadOptions
    state: DownloadState
    storage: Storage | None
    book: RangeBook
    retry: RetryPolicy
    started_at: float
    future: asyncio.Future[DownloadResult]
    _loop: asyncio.AbstractEventLoop
    _events: JobEvents
    _retry_timers: set[asyncio.TimerHandle]
    listing_failed: bool

    @property
    def _job(self) -> FileDownload:
        return cast("FileDownload", self)

    def fail(self, exc: DownloadError | None) -> None:
        raise NotImplementedError

    def apply_probe(self, transfer: RangeTransfer) -> None:
        raise NotImplementedError

    def _finish(self) -> None:
        raise NotImplementedError

    def _retry_or_fail(self, transfer: RangeTransfer, error: DownloadError) -> None:
        """Fetch ``transfer``'s unwritten bytes again after a back-off, if the
        error may pass and the file's retry budget allows; else fail."""
        if isinstance(error, StartOver):
            self._start_over(transfer)
            return
        if isinstance(error, AlreadyThere):
            self._skip(transfer)
            return
        if self._again_with_cwd(transfer, error):
            return
        if isinstance(error, ListingUnusable):
            if error.refused:
                self.book.profile.ftp.listing_answered(False)
            self._again_without_listing(transfer)
            return
        reply = transfer.replies.last_code if transfer.is_ftp else None
        refused = is_refusal(error, reply, transfer.replies.last_text)
        if refused:
            self._events.host_refused(self._job)
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

    def _again_with_cwd(self, transfer: RangeTransfer, error: DownloadError) -> bool:
        """A request by path answered "not found": the server may take no
        paths. Try once more, at once and outside the retry budget, with a
        CWD (the host remembers; see _ftpdialect). Returns whether it did."""
        if self.options.ftp_file_method != "auto" or error.curl_code not in _NOT_FOUND:
            return False
        if not transfer.request.names_a_directory or not self.book.profile.ftp.paths_refused():
            return False
        self._retry_soon(self.book.lost(transfer))
        return True

    def _again_without_listing(self, transfer: RangeTransfer) -> None:
        """MLST gave this file nothing usable: ask it again from the start,
        at once and outside the retry budget, with MDTM and SIZE. A plan
        already made from a listed size is dropped with its ranges."""
        self.listing_failed = True
        self.book.lost(transfer)
        if self.book.probe is not None:
            self.book.stop_all()  # the Downloader takes them off libcurl
            self.book.forget_plan()
        self.state = DownloadState.PROBING  # so that the retry is a first request
        self._from_byte_zero()

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
        self._from_byte_zero()

    def _from_byte_zero(self) -> None:
        """Empty NAME.part and send the first request again, soon."""
        if isinstance(self.storage, PartFile):
            try:
                self.storage.start_over()
            except StorageError as exc:
                self.fail(exc)
                return
        self._retry_soon(None)

    def _retry_soon(self, rest: ByteRange | None) -> None:
        """``rest`` (None: the first request) again at once, outside the budget."""
        self._retry_timers.add(self._loop.call_later(0, self._retry_now, rest))

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
        self._events.retry_ready(self._job, rest)

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
        wrong = (ChecksumMismatchError, RemoteFileChangedError, StartOver)
        return (
            self.options.resume
            and self.book.ledger is not None
            and self.book.probe is not None
            and not isinstance(exc, wrong)
        )
