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
import functools
import time
from pathlib import Path

import pycurl

from ._config import DownloadOptions
from ._curl_errors import error_from_curl
from ._dating import Dating
from ._destination import Destination
from ._exceptions import (
    DownloadError,
    StorageError,
    TransportError,
)
from ._firstanswer import FirstAnswer
from ._integrity import Checksum
from ._jobstate import DownloadState, JobEvents
from ._jobtick import Ticking
from ._names import Origin
from ._policy import RebalancePolicy
from ._probe import LocalCopy, remote_stamp
from ._profile import HostProfile
from ._progress import DownloadResult, ProgressCallback, SpeedMeter
from ._ranges import RangeBook
from ._recovery import Recovery
from ._redact import redact_url
from ._report import result_of
from ._resume import Resume
from ._sockets import SocketRegistry
from ._storage import PartFile, Storage
from ._stream import StreamFile
from ._transfer import BudgetHooks, RangeTransfer
from ._verify import DigestCheck, expected_digests

__all__ = ["DownloadState", "FileDownload", "JobEvents"]


class FileDownload(FirstAnswer, Recovery, Dating, Ticking):
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
        self._digests = DigestCheck(loop, self.url)
        if isinstance(storage, StreamFile) and options.checksum is not None:
            storage.track_digest(Checksum.parse(options.checksum).algorithm)
        self._retry_timers: set[asyncio.TimerHandle] = set()
        self.listing_failed = False  # MLST gave this file nothing: MDTM and SIZE
        self._date_query: RangeTransfer | None = None  # MDTM after the bytes (_dating)
        self._dated = False

    # ------------------------------------------------------------ scheduling

    @property
    def host_key(self) -> str:
        return self.origin.host_key

    def wants_connection(self) -> bool:
        if self.state is DownloadState.QUEUED:
            return True
        if self.state is DownloadState.DATING:
            return self._date_query is None
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
                # A copy or a journal to check wants the classic MDTM date.
                new = self.local_copy is None and self._resume.found is None
                new = new and not self.listing_failed
                ahead = functools.partial(self._events.connections_to_open_ahead, self)
                return self.book.first(self.storage, self._on_probe, start, if_range, new, ahead)
            if self.state is DownloadState.RUNNING and self.storage is not None:
                return self.book.next(self.storage)
            if self.state is DownloadState.DATING and self._date_query is None:
                return self._date_transfer()
        except StorageError as exc:
            self.fail(exc)
        return None

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
        if self.book.queue or self.state is DownloadState.DATING:
            return (0, 0.0)
        if self.state is DownloadState.QUEUED:
            return (1, 0.0)
        return (2, -self.finish_eta())

    # ------------------------------------------------------------ completion

    def transfer_done(self, transfer: RangeTransfer, code: int, message: str) -> None:
        """``transfer`` ended with libcurl ``code`` (outside libcurl's callbacks)."""
        if transfer is self._date_query:
            self._date_done(transfer, code)
            return
        self.book.learn_dialect(transfer)
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
        if code == 0 and self.options.reuse_connections:
            self.book.profile.session_kept()
        if transfer.first_byte_at and not transfer.setup_noted:
            self.book.note_setup(transfer)
        if not transfer.head_checked:  # no body came: an empty file, or an error
            transfer.head_checked = True
            transfer.check_head()
        if transfer.probe:
            self.apply_probe(transfer)
        self.book.learn_date(transfer)
        if transfer.end is not None and transfer.pos != transfer.end:
            raise TransportError(
                f"connection ended at byte {transfer.pos}, expected {transfer.end}", url=self.url
            )
        self.book.finished(transfer)

    def _digests_checked(self, error: DownloadError | None) -> None:
        if self.state is not DownloadState.VERIFYING:
            return  # stopped meanwhile
        if error is not None:
            self.fail(error)
            return
        self._verified = True
        self._finish()

    def _finish(self) -> None:
        book = self.book
        assert book.ledger is not None and self.storage is not None
        size = book.ledger.size
        expected = expected_digests(book.probe, self.options.checksum)
        if expected and not self._verified:
            self.state = DownloadState.VERIFYING
            self._digests.start(self.storage, size, expected, self._digests_checked)
            return
        if self._wants_date():
            self._start_dating()
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
        self._digests.cancel()
        if self._date_query is not None:  # the Downloader takes it off libcurl
            self.book.retired.append(self._date_query)
            self._date_query = None
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
