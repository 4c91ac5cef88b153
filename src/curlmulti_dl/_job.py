"""One file's download: probe, plan, ranges, rebalancing, checks, commit.

A ``FileDownload`` never touches the multi handle: it hands transfers to its
``Scheduler`` (the ``Downloader``), which owns connection slots, and is told
when each one ends.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import deque
from typing import Any, Protocol

import pycurl

from ._config import DownloadOptions
from ._curl_errors import error_from_curl
from ._exceptions import (
    DownloadError,
    HTTPStatusError,
    RangeError,
    RangeNotSupportedError,
    RemoteFileChangedError,
    StorageError,
    TransportError,
)
from ._names import Origin
from ._plan import ByteRange, RangeState, choose_victim, plan_ranges, should_replace, split_point
from ._progress import DownloadResult, ProgressCallback, ProgressSnapshot, SpeedMeter
from ._redact import redact_url
from ._storage import Storage
from ._transfer import RangeTransfer

__all__ = ["FileDownload", "Scheduler"]

_PROGRESS_INTERVAL = 0.1
_SLOW_CHECK_EVERY = 5  # ticks: look for a connection worth replacing every 0.5 s
_RATE_WARMUP = 1.0  # seconds of data before a connection's rate is trusted
_MAX_REPLACEMENTS_PER_RANGE = 3
_STALL_MIN = 0.05  # seconds without a byte before an unsplittable tail is taken over


def _discard(data: bytes) -> None:
    return None


class Scheduler(Protocol):
    """What a download needs from the Downloader that runs it."""

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop the download runs on."""

    def want(self, job: FileDownload) -> None:
        """``job`` may have a transfer to start: offer it a slot when one is free."""

    def stop_transfers(self, job: FileDownload) -> None:
        """Remove every running transfer of ``job`` and free its slots."""

    def abandon(self, job: FileDownload, transfer: RangeTransfer) -> None:
        """Remove one running transfer of ``job`` (no done callback) and free its slot."""

    def budget_hooks(self) -> tuple[Any, Any]:
        """The (over_budget, hold) pair the write callbacks use, or (None, None)."""


class FileDownload:
    """State of one file being downloaded over several ranges."""

    def __init__(
        self,
        scheduler: Scheduler,
        url: str,
        origin: Origin,
        storage: Storage,
        options: DownloadOptions,
        progress: ProgressCallback | None,
    ) -> None:
        self.scheduler = scheduler
        self.url = url  # the real URL: only transfers see it
        self.public_url = redact_url(url)  # what results and snapshots show
        self.effective_url = url
        self.origin = origin
        self.options = options
        self.storage = storage
        self.size: int | None = None
        self.etag: str | None = None
        self.last_modified: str | None = None
        self.transfers: list[RangeTransfer] = []
        self.active: list[RangeTransfer] = []
        # Planned ranges not started yet; None stands for "the whole file, size unknown".
        self.queue: deque[ByteRange | None] = deque()
        self.connection_target = 1
        self.notice: str | None = None  # why fewer connections than asked, if so
        self.max_active = 0
        self.splits = 0
        self.reconnects = 0
        self._replacements: dict[ByteRange, int] = {}
        self._ticks = 0
        self.setup_seconds: float | None = None
        self.state = "new"  # new -> probing -> running -> finished | failed
        self.future: asyncio.Future[DownloadResult] = scheduler.loop.create_future()
        self.started_at = time.monotonic()
        self._progress = progress
        self._meter = SpeedMeter()
        # Ticks run only while this download does (an idle Downloader has no timer).
        self._progress_timer: asyncio.TimerHandle | None = scheduler.loop.call_later(
            _PROGRESS_INTERVAL, self._sample
        )

    # ------------------------------------------------------------ scheduling

    def next_transfer(self) -> RangeTransfer | None:
        """A transfer to start on a free slot, or None if this file needs none now."""
        if self.state == "new":
            self.state = "probing"
            return self._new_transfer(0, None, probe=True, to_eof=True)
        if self.state != "running":
            return None
        if self.queue:
            planned = self.queue.popleft()
            if planned is None:
                return self._new_transfer(0, None, to_eof=True)
            to_eof = self.origin.is_ftp and planned.end == self.size
            transfer = self._new_transfer(planned.start, planned.end, to_eof=to_eof)
            transfer.replacements = self._replacements.pop(planned, 0)
            return transfer
        if len(self.active) < self.connection_target:
            return self._split()
        return None

    def _new_transfer(
        self, start: int, end: int | None, *, probe: bool = False, to_eof: bool = False
    ) -> RangeTransfer:
        over_budget, hold = self.scheduler.budget_hooks()
        if_range = None
        if not self.origin.is_ftp and not probe:
            strong_etag = self.etag if self.etag and not self.etag.startswith("W/") else None
            if_range = strong_etag or self.last_modified
        transfer = RangeTransfer(
            self,
            self.effective_url,
            start,
            end,
            options=self.options,
            is_ftp=self.origin.is_ftp,
            probe=probe,
            to_eof=to_eof,
            if_range=if_range,
            over_budget=over_budget,
            hold=hold,
        )
        if self.origin.is_ftp and probe:
            # A NOBODY probe on FTP writes "Content-Length: ..." pseudo-headers
            # through the write callback (to stdout without one): swallow them.
            transfer.curl.setopt(pycurl.NOBODY, 1)
            transfer.curl.setopt(pycurl.OPT_FILETIME, 1)
            transfer.curl.setopt(pycurl.WRITEFUNCTION, _discard)
        if to_eof and self.size is not None:
            transfer.natural_end = self.size
        self.transfers.append(transfer)
        return transfer

    def started(self, transfer: RangeTransfer) -> None:
        transfer.added_at = time.monotonic()
        self.active.append(transfer)
        self.max_active = max(self.max_active, len(self.active))

    def _split(self) -> RangeTransfer | None:
        """Rebalance: cut the running range that would finish last and give its
        tail to the free connection."""
        now = time.monotonic()
        candidates = [
            t for t in self.active if t.end is not None and t.head_checked and not t.reached_end
        ]
        if not candidates:
            return None
        states = [RangeState(i, t.pos, t.end, t.rate(now)) for i, t in enumerate(candidates)]  # type: ignore[arg-type]
        rates = [s.rate for s in states if s.rate > 0]
        newcomer_rate = statistics.median(rates) if rates else 0.0
        setup = self.setup_seconds or 0.0
        min_split = self.options.min_split_size
        if self.origin.is_ftp:
            # Each FTP part costs a login: the tail must be worth at least that.
            min_split = max(min_split, int(newcomer_rate * setup))
        victim = choose_victim(states, min_split)
        cut = split_point(victim, newcomer_rate, setup, min_split) if victim else None
        if victim is None or cut is None:
            return self._take_stalled_tail(candidates, now, setup)
        old = candidates[victim.key]
        old_end = old.end
        assert old_end is not None
        to_eof = self.origin.is_ftp and old_end == self.size
        old.end = cut  # the old connection stops exactly here
        self.splits += 1
        return self._new_transfer(cut, old_end, to_eof=to_eof)

    def _take_stalled_tail(
        self, candidates: list[RangeTransfer], now: float, setup: float
    ) -> RangeTransfer | None:
        """Endgame: a range too small to split whose server has gone quiet (a
        pacing server sends in bursts) is taken over whole by the free connection:
        the old transfer is dropped at its current byte."""
        quiet_for = max(_STALL_MIN, 2 * setup)
        # ``seen_pos``/``seen_at`` come from the tick (no clock in the write path):
        # a position unchanged since a tick ``quiet_for`` ago means no byte since.
        stalled = [
            t
            for t in candidates
            if t.end is not None
            and t.first_byte_at
            and t.pos < t.end
            and t.pos == t.seen_pos
            and now - t.seen_at > quiet_for
        ]
        if not stalled:
            return None
        old = min(stalled, key=lambda t: t.seen_at)
        old_end = old.end
        assert old_end is not None
        try:
            old.flush()
        except StorageError as exc:
            self.fail(exc)
            return None
        old.end = old.pos
        old.reached_end = True
        old.done = True
        self.active.remove(old)
        self.scheduler.abandon(self, old)
        self.splits += 1
        return self._new_transfer(
            old.pos, old_end, to_eof=self.origin.is_ftp and old_end == self.size
        )

    def _replace_slow_connection(self) -> None:
        """Stop one connection running far below the others; its remaining bytes
        go back to the queue and start again on a new connection."""
        if self.state != "running" or self.connection_target < 2 or self.queue:
            return
        now = time.monotonic()
        settled = [
            t
            for t in self.active
            if t.end is not None
            and not t.reached_end
            and t.first_byte_at
            and now - t.first_byte_at >= _RATE_WARMUP
        ]
        if len(settled) < 2:
            return
        rates = {t: t.rate(now) for t in settled}
        slowest = min(settled, key=lambda t: rates[t])
        others = statistics.median(r for t, r in rates.items() if t is not slowest)
        state = RangeState(0, slowest.pos, slowest.end, rates[slowest])  # type: ignore[arg-type]
        setup = self.setup_seconds or 0.0
        if slowest.replacements >= _MAX_REPLACEMENTS_PER_RANGE or not should_replace(
            state, others, setup, self.options.min_split_size
        ):
            return
        old_end = slowest.end
        assert old_end is not None
        slowest.end = slowest.pos  # its next chunk stops it; nothing past pos is written
        self.queue.appendleft(ByteRange(slowest.pos, old_end))
        self._replacements[ByteRange(slowest.pos, old_end)] = slowest.replacements + 1
        self.reconnects += 1

    # ------------------------------------------------ response checks (callbacks)

    def accept_head(self, transfer: RangeTransfer) -> None:
        """Check an HTTP response before any of its bytes is written.

        Runs inside libcurl's write callback: it may raise DownloadError but
        must not start transfers (that is scheduled instead).
        """
        head = transfer.head
        status = head.status
        if status is None:
            raise TransportError("no HTTP status line in the response", url=self.url)
        if transfer.probe:
            self._accept_probe(transfer)
            return
        if status == 206:
            content_range = head.content_range
            if content_range is None or content_range.first != transfer.start:
                raise RangeError(
                    f"asked for bytes from {transfer.start}, got Content-Range "
                    f"{head.headers.get('content-range')!r}",
                    url=self.url,
                )
            if content_range.total != self.size:
                raise RemoteFileChangedError(
                    f"size changed from {self.size} to {content_range.total} bytes", url=self.url
                )
            self._check_validators(transfer)
            return
        if status == 200:
            self._check_validators(transfer)
            raise RangeNotSupportedError(
                "server answered a range request with the whole file", url=self.url
            )
        raise self._status_error(status)

    def _accept_probe(self, transfer: RangeTransfer) -> None:
        head = transfer.head
        status = head.status
        assert status is not None
        self.effective_url = head.url
        self.etag = head.etag
        self.last_modified = head.last_modified
        content_range = head.content_range
        if status == 206:
            if content_range is None or content_range.first != 0:
                raise RangeError(
                    f"bad Content-Range {head.headers.get('content-range')!r} for bytes=0-",
                    url=self.url,
                )
            size = content_range.total
            if size is None:
                # Ranges work but the size is unknown: one stream to the end.
                self._single_stream(transfer, None, "the server does not tell the file's size")
                return
            plan = plan_ranges(size, self.options.parts, self.options.min_part_size)
            self.size = size
            self.storage.reserve(size)
            transfer.end = plan[0].end
            transfer.natural_end = size
            self.queue.extend(plan[1:])
            self._set_target(len(plan), self.options.min_part_size, "min_part_size")
            self.state = "running"
            if self.queue:
                self.scheduler.loop.call_soon(self.scheduler.want, self)
            return
        if status == 200:
            self._single_stream(transfer, head.content_length, "the server ignores byte ranges")
            return
        if status == 416 and content_range is not None and content_range.total == 0:
            self._single_stream(transfer, 0, None)
            return
        raise self._status_error(status)

    def _single_stream(self, transfer: RangeTransfer, size: int | None, why: str | None) -> None:
        """The server ignored Range or has no known size: the first request
        simply becomes the whole download."""
        self.size = size
        if size:
            self.storage.reserve(size)
        transfer.end = size
        transfer.natural_end = size
        self.connection_target = 1
        if why and self.options.parts > 1:
            self.notice = f"1 connection instead of {self.options.parts}: {why}"
        self.state = "running"

    def _set_target(self, planned: int, min_part_size: int, option: str) -> None:
        self.connection_target = planned
        asked = self.options.parts
        if planned < asked and self.size:
            self.notice = (
                f"{planned} connection{'s' if planned != 1 else ''} instead of {asked}: "
                f"{self.size} bytes make {planned} part{'s' if planned != 1 else ''} of at "
                f"least {option}={min_part_size} bytes"
            )

    def _check_validators(self, transfer: RangeTransfer) -> None:
        head = transfer.head
        for name, expected, got in (
            ("ETag", self.etag, head.etag),
            ("Last-Modified", self.last_modified, head.last_modified),
        ):
            if expected and got and expected != got:
                raise RemoteFileChangedError(
                    f"{name} changed from {expected} to {got} during the download", url=self.url
                )

    def _status_error(self, status: int) -> HTTPStatusError:
        return HTTPStatusError(f"HTTP status {status}", url=self.url, status=status)

    # -------------------------------------------------------- completion

    def transfer_done(self, transfer: RangeTransfer, code: int, message: str) -> None:
        """A transfer ended with libcurl ``code`` (its slot is already free)."""
        if transfer in self.active:
            self.active.remove(transfer)
        if self.future.done():
            transfer.close()
            return
        try:
            self._settle(transfer, code, message)
        except DownloadError as exc:
            self.fail(exc)
            return
        finally:
            transfer.close()
        if self.state == "running" and not self.active and not self.queue:
            self._finish()
        else:
            self.scheduler.want(self)

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
        transfer.done = True
        if transfer.first_byte_at and transfer.added_at:
            self.setup_seconds = transfer.first_byte_at - transfer.added_at
        if self.origin.is_ftp and transfer.probe:
            self._after_ftp_probe(transfer)
            return
        if not transfer.head_checked:
            # No body arrived (empty file, error without body): check now.
            transfer.head_checked = True
            self.accept_head(transfer)
        if transfer.end is None:
            self.size = transfer.pos
            transfer.end = transfer.pos
        elif transfer.pos != transfer.end:
            raise TransportError(
                f"connection ended at byte {transfer.pos}, expected {transfer.end}", url=self.url
            )

    def _after_ftp_probe(self, transfer: RangeTransfer) -> None:
        size = int(transfer.curl.getinfo(pycurl.CONTENT_LENGTH_DOWNLOAD_T))
        mtime = int(transfer.curl.getinfo(pycurl.INFO_FILETIME))
        pretransfer = float(transfer.curl.getinfo(pycurl.PRETRANSFER_TIME))
        self.setup_seconds = pretransfer
        if mtime >= 0:
            self.last_modified = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(mtime))
        self.state = "running"
        if size < 0:
            self.queue.append(None)  # size unknown: one stream to EOF
            if self.options.parts > 1:
                self.notice = (
                    f"1 connection instead of {self.options.parts}: "
                    "the server does not tell the file's size"
                )
            return
        self.size = size
        if size == 0:
            return
        self.storage.reserve(size)
        plan = plan_ranges(size, self.options.parts, self.options.ftp_min_part_size)
        self.queue.extend(plan)
        self._set_target(len(plan), self.options.ftp_min_part_size, "ftp_min_part_size")

    def _finish(self) -> None:
        size = self.size if self.size is not None else 0
        written = sum(t.pos - t.start for t in self.transfers if t.done)
        if written != size:
            self.fail(DownloadError(f"wrote {written} bytes, expected {size}", url=self.url))
            return
        try:
            self.storage.commit(size, self.options.fsync)
        except StorageError as exc:
            self.fail(exc)
            return
        self.state = "finished"
        self._stop_progress(final=True)
        elapsed = time.monotonic() - self.started_at
        self.future.set_result(
            DownloadResult(
                url=self.public_url,
                effective_url=redact_url(self.effective_url),
                path=self.storage.final_path,
                size=size,
                elapsed=elapsed,
                connections=self.max_active,
                ranges=sum(1 for t in self.transfers if not (t.probe and t.is_ftp)),
                splits=self.splits,
                reconnects=self.reconnects,
                etag=self.etag,
                last_modified=self.last_modified,
                notice=self.notice,
            )
        )

    def fail(self, exc: BaseException) -> None:
        """Stop everything, delete NAME.part, and report ``exc``."""
        self._stop(exc)

    def abort(self) -> None:
        """Cancelled by the caller: like ``fail``, with nobody left to tell."""
        self._stop(None)

    def _stop(self, exc: BaseException | None) -> None:
        # The awaiting task's cancellation has usually cancelled ``future``
        # already, so the state, not the future, says whether work is left.
        if self.state in ("finished", "failed"):
            return
        self.state = "failed"
        self.scheduler.stop_transfers(self)
        self.storage.discard()
        self._stop_progress(final=False)
        if self.future.done():
            return
        if exc is None:
            self.future.cancel()
        else:
            self.future.set_exception(exc)

    # ---------------------------------------------------------- progress

    def bytes_done(self) -> int:
        return sum(t.pos - t.start for t in self.transfers)

    def snapshot(self) -> ProgressSnapshot:
        now = time.monotonic()
        done = self.bytes_done()
        return ProgressSnapshot(
            url=self.public_url,
            bytes_done=done,
            total=self.size,
            speed=self._meter.add(now, done),
            connections=len(self.active),
            elapsed=now - self.started_at,
            notice=self.notice,
        )

    def _sample(self) -> None:
        self._progress_timer = self.scheduler.loop.call_later(_PROGRESS_INTERVAL, self._sample)
        self._ticks += 1
        now = time.monotonic()
        for transfer in self.active:
            if transfer.pos != transfer.seen_pos:
                transfer.seen_pos, transfer.seen_at = transfer.pos, now
        if self._ticks % _SLOW_CHECK_EVERY == 0:
            self._replace_slow_connection()
        if self.state == "running" and len(self.active) < self.connection_target:
            # A free connection may now find a tail that went quiet.
            self.scheduler.want(self)
        if self._progress is None:
            return
        try:
            self._progress(self.snapshot())
        except Exception as exc:
            self.fail(exc)

    def _stop_progress(self, final: bool) -> None:
        if self._progress_timer is not None:
            self._progress_timer.cancel()
            self._progress_timer = None
        if final and self._progress is not None:
            try:
                self._progress(self.snapshot())
            except Exception:
                pass  # the file is already complete: a display error must not undo it
