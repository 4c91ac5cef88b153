"""``FileDownload``: carries out what one file's state machine decides.

It owns what acts: the future its caller awaits, the back-off timers, the
file on disk (NAME.part or a stream), its resume journal, the digest check
off the loop, the progress callback, and the transfer (easy handle and
write buffer) that runs each of the machine's lanes. The ``Dispatcher``
hands it slots (``start_transfer``), tells it when a transfer ends
(``transfer_done``) and ticks it; it writes its transfers' buffers out,
forwards the event to its ``FileMachine`` and performs the actions that
come back. Transfers to end wait in ``retired``, which the Dispatcher's
``Transfers`` empties after every call (it ends each transfer once), so
nothing here calls the Dispatcher while it decides.
"""

from __future__ import annotations

import functools
import time
import weakref
from collections.abc import Callable
from typing import Protocol

from .._config import DownloadOptions
from .._eventloop import Loop, LoopFuture, TimerHandle
from .._exceptions import DownloadError, StorageError
from .._policy import RebalancePolicy
from .._progress import DownloadResult, ProgressCallback
from ..engine.curl_errors import error_from_curl
from ..engine.sockets import SocketRegistry
from ..engine.transfer import BudgetHooks, RangeTransfer
from ..files.destination import Destination
from ..files.resume import JournalWriter
from ..files.stamps import LocalCopy, remote_stamp
from ..files.storage import PartFile, Storage
from ..files.stream import StreamFile
from ..files.verify import DigestCheck
from ..protocol.integrity import Checksum
from ..protocol.probe import ProbeResult
from ..protocol.urls import Origin
from ..ranges.lane import Ending, Lane
from ..ranges.plan import ByteRange
from ..schedule.profile import HostProfile
from . import actions as act
from .machine import Ended, FileMachine
from .rangebook import RangeBook
from .state import DownloadState

__all__ = ["DownloadState", "FileDownload", "JobEvents"]


class JobEvents(Protocol):
    """What a file tells (and asks) its Downloader's ``Dispatcher``."""

    def probe_ready(self, job: FileDownload, lane_id: int) -> None:
        """The first answer arrived (called soon after, never inside libcurl)."""

    def retry_ready(self, job: FileDownload) -> None:
        """``job`` wants a slot again (a back-off is over, or its date query)."""

    def host_refused(self, job: FileDownload, pause: float) -> None:
        """``job``'s server refused one more connection (and asked for
        ``pause`` seconds before the next)."""

    def connections_to_open_ahead(self, job: FileDownload) -> int:
        """Connections to open for ``job``'s later ranges while its first
        request is out (``engine.preconnect``)."""

    def share_of_free_slots(self, job: FileDownload) -> int:
        """How many connections ``job`` may start on (arithmetic only: this is
        asked inside libcurl's write callback)."""


def _weakly(method: Callable[[], int]) -> Callable[[], int]:
    """``method`` without a reference to its object: a file's machine asks
    it, and a cycle would leave every finished file to the garbage collector
    (measured: 29,590 objects and 18% more time for 500 files)."""
    ref = weakref.WeakMethod(method)

    def call() -> int:
        bound = ref()
        assert bound is not None  # (the driver outlives its machine's use)
        return bound()

    return call


class _Nowhere:
    """Where a request without a body writes (nothing of the file)."""

    def write_at(self, data: memoryview, offset: int) -> None:
        return None


_NOWHERE = _Nowhere()


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
        loop: Loop,
        events: JobEvents,
        budget: BudgetHooks | None,
        storage: StreamFile | None = None,
        rebalance: RebalancePolicy | None = None,
        notice: str | None = None,
        sockets: SocketRegistry | None = None,
        profile: HostProfile | None = None,
        local_copy: LocalCopy | None = None,
    ) -> None:
        book = RangeBook(
            url,
            origin.is_ftp,
            options,
            rebalance or RebalancePolicy(),
            time.monotonic,
            profile=profile,
            is_sftp=origin.is_sftp,
        )
        self.machine = FileMachine(
            url,
            origin,
            destination.path,
            options,
            book,
            share=_weakly(self._share),
            streamed=storage is not None,
            local_copy=local_copy,
            notice=notice,
        )
        self.url = url
        self.origin = origin
        self.options = options
        self.destination = destination
        self.progress = progress
        self.future: LoopFuture[DownloadResult] = loop.create_future()
        self.retired: list[RangeTransfer] = []  # for the Dispatcher to end
        self._loop = loop
        self._events = events
        self._budget = budget
        self._sockets = sockets
        self._running: dict[int, RangeTransfer] = {}  # lane id -> its transfer
        self._started: RangeTransfer | None = None  # made by the last StartRange
        self._storage: Storage | None = storage  # a NAME.part is opened with the first slot
        self._journal = JournalWriter(loop, self.machine.public_url)
        self._digests = DigestCheck(loop, url)
        self._timers: set[TimerHandle] = set()
        if storage is not None:
            if options.checksum is not None:
                storage.track_digest(Checksum.parse(options.checksum).algorithm)
            self.machine.file_opened(None)

    # ------------------------------------------------------------ as the scheduler sees it

    @property
    def host_key(self) -> str:
        return self.origin.host_key

    @property
    def state(self) -> DownloadState:
        return self.machine.state

    @property
    def rank(self) -> tuple[int, float]:
        return self.machine.rank

    def wants_connection(self) -> bool:
        return self.machine.wants_connection()

    # ------------------------------------------------------------ as the sharing of slots sees it

    @property
    def is_over(self) -> bool:
        return self.machine.state.is_over

    @property
    def queued(self) -> bool:
        return self.machine.state is DownloadState.QUEUED

    @property
    def planned(self) -> bool:
        return self.machine.book.probe is not None

    @property
    def share_promised(self) -> bool:
        return self.machine.book.promised is not None

    @property
    def slots_spoken_for(self) -> int:
        book = self.machine.book
        return len(book.queue) + (book.promised - 1 if book.promised else 0)

    @property
    def more_connections_wanted(self) -> int:
        """Connections it would use beyond those it holds, for leases asked
        ahead: up to ``parts`` before its plan, its ranges in line after."""
        if self.is_over:
            return 0
        if self.queued:
            return 1
        book = self.machine.book
        if book.probe is None and book.promised is None:
            return max(0, self.options.parts - 1)
        return self.slots_spoken_for + (not book.queue and self.machine.wants_connection())

    @property
    def wants_ahead(self) -> int:
        """FTP and SFTP sessions are priced per login (``HostProfile``): none ahead."""
        options = self.options
        if self.origin.is_ftp or self.origin.is_sftp or options.parts < 2 or not options.preconnect:
            return 0
        return options.parts - 1

    # ------------------------------------------------------------ events

    def start_transfer(self) -> RangeTransfer | None:
        """A transfer for a slot just granted, or None if none is worth one now."""
        machine = self.machine
        if machine.state is DownloadState.QUEUED and not machine.has_storage:
            try:
                self._open_part()
            except StorageError as exc:
                self._perform(machine.fail(exc))
                return None
        if self._written_out():
            self._perform(machine.slot_granted())
        started, self._started = self._started, None
        return started

    def _open_part(self) -> None:
        resume = self.options.resume
        part = PartFile(self.destination, self.url, keep_existing=resume)
        self._storage = part
        found = self._journal.load(part) if resume else None
        self.machine.file_opened(found)

    def _share(self) -> int:
        return self._events.share_of_free_slots(self)

    def _on_first_answer(self, lane: Lane, probe: ProbeResult) -> int | None:
        """Inside the write callback: where the first range ends; the plan
        comes soon, outside libcurl."""
        end = self.machine.first_answer(lane, probe)
        if not lane.halted:
            self._loop.call_soon(self._events.probe_ready, self, lane.id)
        return end

    def apply_probe(self, lane_id: int) -> None:
        """Plan the file from its first answer (outside libcurl)."""
        self._perform(self.machine.plan(lane_id))

    def transfer_ended(self, transfer: RangeTransfer) -> None:
        """libcurl is done with ``transfer``: read what only its handle knows,
        and write its buffer out (unless it failed on its side), before the
        handle is closed and the machine hears of it (``transfer_done``)."""
        lane = transfer.lane
        self._running.pop(lane.id, None)
        transfer.note_connection()
        if lane.is_sftp:
            transfer.read_stat()
        if lane.error is None:
            try:
                transfer.flush()
            except StorageError as exc:
                lane.error = exc

    def transfer_done(
        self, lane: Lane, ending: Ending, code: int, message: str, *, host_serving: bool
    ) -> None:
        """``lane``'s transfer ended (libcurl's ``code``, as ``ending``) and was closed."""
        error = None if ending is Ending.DONE else error_from_curl(code, message, self.url)
        if self._written_out():
            self._perform(self.machine.transfer_done(Ended(lane.id, ending, error, host_serving)))

    def tick(self, now: float) -> None:
        """Every 0.1 s while running: positions, slow connections, progress."""
        for transfer in self._running.values():
            transfer.note_connection()
        if self._written_out():
            self._perform(self.machine.tick(now))

    def fail(self, error: DownloadError | None) -> None:
        """Stop every transfer and report ``error`` (None: cancelled by the
        caller, with nobody left to tell)."""
        self._written_out()
        self._perform(self.machine.fail(error))

    def internal_error(self, exc: Exception) -> None:
        """A bug met while deciding: the download fails, never hangs."""
        error = DownloadError(f"internal error: {exc!r}", url=self.url)
        error.__cause__ = exc
        self.fail(error)

    def _written_out(self) -> bool:
        """Write every running transfer's buffer, so that the machine books
        what is in the file; False if one failed (the file has failed then)."""
        for transfer in self._running.values():
            if transfer.lane.error is not None:
                continue
            try:
                transfer.flush()
            except StorageError as exc:
                self._perform(self.machine.fail(exc))
                return False
        return True

    def _retry_due(self, rest: ByteRange | None) -> None:
        now = self._loop.time()
        self._timers = {h for h in self._timers if not h.cancelled() and h.when() > now}
        if self.machine.retry_due(rest):
            self._events.retry_ready(self)

    def _digests_checked(self, error: DownloadError | None) -> None:
        self._perform(self.machine.digests_checked(error))

    # ------------------------------------------------------------ actions

    def _perform(self, actions: list[act.Action]) -> None:
        for index, action in enumerate(actions):
            try:
                self._do(action)
            except StorageError as exc:
                # What came after assumed this had worked.
                self._perform(self.machine.fail(exc))
                self._perform([a for a in actions[index + 1 :] if isinstance(a, act.Retire)])
                return

    def _do(self, action: act.Action) -> None:
        storage = self._storage
        if isinstance(action, act.StartRange):
            self._start(action.lane)
        elif isinstance(action, act.Retire):
            transfer = self._running.pop(action.lane_id, None)
            if transfer is not None:  # (one that ended by itself is ended already)
                self.retired.append(transfer)
        elif isinstance(action, act.RetryAfter):
            self._timers.add(self._loop.call_later(action.delay, self._retry_due, action.rest))
        elif isinstance(action, act.WantSlot):
            self._loop.call_soon(self._events.retry_ready, self)
        elif isinstance(action, act.HoldHost):
            self._events.host_refused(self, action.pause)
        elif isinstance(action, act.ResetPart):
            if isinstance(storage, PartFile):
                storage.start_over()
        elif isinstance(action, act.Reserve):
            if storage is not None:
                storage.reserve(action.size)
        elif isinstance(action, act.JournalFrom):
            self._journal.attach(action.ledger)
        elif isinstance(action, act.WriteJournal):
            if isinstance(storage, PartFile):
                self._journal.maybe_write(action.now, storage, action.probe)
        elif isinstance(action, act.CheckDigests):
            assert storage is not None
            self._digests.start(storage, action.size, list(action.expected), self._digests_checked)
        elif isinstance(action, act.Commit):
            assert storage is not None
            if isinstance(storage, PartFile):
                storage.stamp(*remote_stamp(action.probe, self.machine.public_url))
            storage.commit(action.size, self.options.fsync)
            self._perform(self.machine.committed(storage.final_path))
        elif isinstance(action, act.Discard):
            if storage is not None:
                storage.discard()
        elif isinstance(action, act.ReportProgress):
            self._report_progress()
        elif isinstance(action, act.Resolve):
            if not self.future.done():
                self.future.set_result(action.result)
        elif isinstance(action, act.Stop):
            self._stop(action)

    def _start(self, lane: Lane) -> None:
        """The transfer that runs ``lane``, for the slot just granted."""
        storage = self._storage
        assert storage is not None
        transfer = RangeTransfer(
            lane,
            # libcurl hands what FTP answers to MDTM and SIZE to the write
            # callback of a request without a body: none of it is the file.
            _NOWHERE if lane.request.date_only else storage,
            self.options,
            on_probe=functools.partial(self._on_first_answer, lane) if lane.probe else None,
            budget=self._budget,
            sockets=self._sockets,
            host=self.origin.host_key,
            preconnect=self._open_ahead if lane.probe else None,
        )
        self._running[lane.id] = transfer
        self._started = transfer

    def _open_ahead(self) -> int:
        return self._events.connections_to_open_ahead(self)

    def _report_progress(self) -> None:
        if self.progress is None:
            return
        try:
            self.progress(self.machine.snapshot())
        except Exception as exc:
            self._perform(self.machine.callback_failed(exc))

    def _stop(self, stop: act.Stop) -> None:
        self._digests.cancel()
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()
        storage = self._storage
        if (
            stop.keep
            and isinstance(storage, PartFile)
            and stop.probe is not None
            and self._journal.write_now(storage, stop.probe)
        ):
            storage.keep()
        if storage is not None and not storage.closed:
            storage.discard()
        if self.future.done():
            return
        if stop.error is None:
            self.future.cancel()
        else:
            self.future.set_exception(stop.error)
