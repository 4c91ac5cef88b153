"""What one file does on its Downloader's tick (every 0.1 s): the time
limit, silent connections, the resume journal, slow connections, and a
progress snapshot for its callback. A mixin of ``FileDownload``.
"""

from __future__ import annotations

import time

from ._config import DownloadOptions
from ._exceptions import CallbackError, DownloadError, DownloadTimeout, StorageError
from ._jobstate import DownloadState
from ._progress import ProgressCallback, ProgressSnapshot, SpeedMeter
from ._ranges import RangeBook
from ._resume import Resume
from ._storage import PartFile, Storage

__all__ = ["Ticking"]


class Ticking:
    """The tick half of ``FileDownload``."""

    url: str
    public_url: str
    options: DownloadOptions
    state: DownloadState
    storage: Storage | None
    book: RangeBook
    progress: ProgressCallback | None
    notice: str | None
    started_at: float
    _resume: Resume
    _meter: SpeedMeter
    _last_check: float

    def fail(self, exc: DownloadError | None) -> None:
        raise NotImplementedError

    def _stop_stalled(self, now: float) -> bool:
        raise NotImplementedError

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
