"""Progress snapshots and the result of a download.

The write callbacks only add to integer counters; a sampler reads them at a
bounded rate and hands immutable snapshots to whoever displays them.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ._exceptions import DownloadError

__all__ = ["DownloadResult", "ProgressCallback", "ProgressSnapshot", "SpeedMeter"]


@dataclass(frozen=True)
class ProgressSnapshot:
    """The state of one download at one moment.

    ``total`` is None while the size is unknown; ``speed`` is bytes per second
    over the last few seconds. ``notice`` says why the file runs on fewer
    connections than ``parts`` asked for (None when it does not).
    """

    url: str
    bytes_done: int
    total: int | None
    speed: float
    connections: int
    elapsed: float
    notice: str | None = None

    @property
    def eta(self) -> float | None:
        """Seconds left at the current speed, if that can be told."""
        if self.total is None or self.speed <= 0:
            return None
        return max(0.0, (self.total - self.bytes_done) / self.speed)


ProgressCallback = Callable[[ProgressSnapshot], None]


class SpeedMeter:
    """Bytes per second over a sliding window of samples."""

    def __init__(self, window: float = 3.0) -> None:
        self._window = window
        self._samples: deque[tuple[float, int]] = deque()

    def add(self, now: float, total_bytes: int) -> float:
        samples = self._samples
        samples.append((now, total_bytes))
        while len(samples) > 2 and now - samples[0][0] > self._window:
            samples.popleft()
        first_time, first_bytes = samples[0]
        span = now - first_time
        return (total_bytes - first_bytes) / span if span > 0 else 0.0


@dataclass(frozen=True)
class DownloadResult:
    """What a finished download produced.

    ``connections`` is the most connections that ran at once for this file;
    ``ranges`` counts every range transfer: the planned ones, plus ``splits``
    (a running range cut for an idle connection) and ``reconnects`` (a range
    moved off a connection far slower than the others). ``notice`` says why the
    file got fewer connections than asked for, if it did. ``skipped``: the
    destination already held the complete file (same size, and the remote
    date or ETag it was stamped with); nothing was written. ``elapsed``
    counts from the file's first connection; ``queued`` is the time it
    waited for it (behind the host's or the Downloader's limit). In a
    batch, a file that failed is a result too, with ``error`` set (and
    ``size`` 0): ``ok`` tells them apart; its ``path`` is where the file
    would have gone, or None when that was never known (a listing that
    failed, a URL that cannot be read).
    """

    url: str
    effective_url: str
    path: Path | None
    size: int
    elapsed: float
    connections: int
    ranges: int
    splits: int
    reconnects: int = 0
    etag: str | None = None
    last_modified: str | None = None
    notice: str | None = None
    skipped: bool = False  # the file at ``path`` was already the remote file
    queued: float = 0.0  # seconds it waited for its first connection
    error: DownloadError | None = None  # a batch's failed file: why

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def speed(self) -> float:
        """Average bytes per second over the whole download."""
        return self.size / self.elapsed if self.elapsed > 0 else 0.0
