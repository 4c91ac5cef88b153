"""From a file's first answer to its running plan: is it the file we want
(an existing copy, the resume journal's file), where the first range ends,
and the plan that starts the others. A mixin of ``FileDownload``.

``_on_probe`` runs inside libcurl's write callback: arithmetic and one
scheduled event only; the plan is applied later, outside libcurl.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, cast

from ._config import DownloadOptions
from ._destination import Destination
from ._exceptions import DestinationExistsError, DownloadError, StorageError
from ._jobstate import AlreadyThere, DownloadState, JobEvents, StartOver
from ._names import Origin
from ._probe import LocalCopy, ProbeResult
from ._ranges import RangeBook
from ._report import notice_for
from ._resume import Resume
from ._storage import PartFile, Storage
from ._transfer import RangeTransfer

if TYPE_CHECKING:
    from ._download import FileDownload

__all__ = ["FirstAnswer"]


class FirstAnswer:
    """The first-answer half of ``FileDownload``."""

    url: str
    public_url: str
    origin: Origin
    destination: Destination
    options: DownloadOptions
    state: DownloadState
    storage: Storage | None
    book: RangeBook
    notice: str | None
    local_copy: LocalCopy | None
    _loop: asyncio.AbstractEventLoop
    _events: JobEvents
    _resume: Resume

    @property
    def _job(self) -> FileDownload:
        return cast("FileDownload", self)

    def fail(self, exc: DownloadError | None) -> None:
        raise NotImplementedError

    def _on_probe(self, transfer: RangeTransfer, probe: ProbeResult) -> int | None:
        """Inside the write callback: where this first range ends (arithmetic
        only), and an event to plan the rest later."""
        local = self.local_copy
        if local is not None:
            if local.is_copy_of(probe, self.public_url):
                raise AlreadyThere("already complete", url=self.url)
            raise DestinationExistsError(
                f"{self.destination.path} already exists and is not the remote file "
                "(overwrite=True or --force replaces it)",
                url=self.url,
            )
        if self._resume.found is not None and not self._resume.holds(transfer.start, probe):
            raise StartOver("the remote file changed since the last run", url=self.url)
        self._loop.call_soon(self._events.probe_ready, self._job, transfer)
        if self._resume.found is not None:
            assert probe.size is not None
            self.book.restored = self._resume.found.durable
            return self.book.missing_end(transfer.start, probe.size)
        if probe.size is None or not probe.ranged:
            return probe.size
        # Fixed now, before the range runs past its end: the file's share of
        # the host's free slots (the Downloader counts it as promised).
        share = self._events.share_of_free_slots(self._job)
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
        self.book.learn_dialect(transfer)
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
