"""One byte range on one easy handle, and its write path (the hot loop).

libcurl hands at most 16 KiB per write call, ~65,000 calls per GB/s, so the
write callback does as little as it can: copy the chunk into a fixed,
preallocated buffer and, when it is full, one ``pwrite`` at the range's offset.
A range stops exactly at ``end`` even when rebalancing moved ``end`` after the
request went out: the bytes past it are never written, and the transfer is
aborted on purpose (``reached_end`` tells that abort from a failure).

A transfer knows nothing of its download: it records what happens in its
``Lane`` (plain data the file's decisions read). Before its first byte it
checks its own answer (``ranges.lane.read_answer``) and gives a first
request's ``ProbeResult`` to ``on_probe``, which only computes. A first
answer that is a redirect is no answer of the file's: it is noted in the
lane, and its body is never read, however long.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

import pycurl

from .._config import DownloadOptions
from .._exceptions import DownloadError, ProtocolError, RemoteFileChangedError, StorageError
from ..protocol.ftpdialect import NOT_UNDERSTOOD
from ..protocol.probe import ProbeResult
from ..ranges.lane import Lane, read_answer
from .curlopts import new_easy, watch_sockets
from .sockets import SocketRegistry

__all__ = ["BudgetHooks", "PacingHooks", "RangeTransfer", "Writer"]

_PAUSE = pycurl.WRITEFUNC_PAUSE
_ABORT = 0  # any count other than len(chunk) makes libcurl stop with code 23


class Writer(Protocol):
    def write_at(self, data: memoryview, offset: int) -> None: ...


class BudgetHooks(Protocol):
    """The bridge's per-iteration work budget, as the write path sees it."""

    def over_budget(self) -> bool: ...
    def hold(self, curl: Any) -> None: ...


class PacingHooks(BudgetHooks, Protocol):
    """A budget that also paces bytes (a shared rate limit): ``admit``
    answers 0.0 when ``size`` more bytes may be taken now, else the
    (monotonic) time they are due, having arranged for ``curl`` to be
    resumed then."""

    def admit(self, curl: Any, size: int) -> float: ...


class RangeTransfer:
    """The easy handle and the write buffer of one ``Lane`` (a range of a file
    on one connection). The write path records its progress in the lane
    (``pos`` received, ``flushed`` written; the difference sits in the
    buffer) and stops at the lane's ``end``, which a split may move.
    ``on_probe`` hears a first request's answer (inside the write callback)
    and says where the first range ends.
    """

    def __init__(
        self,
        lane: Lane,
        storage: Writer,
        options: DownloadOptions,
        *,
        on_probe: Callable[[ProbeResult], int | None] | None = None,
        budget: BudgetHooks | None = None,
        sockets: SocketRegistry | None = None,
        host: str = "",
        preconnect: Callable[[], int] | None = None,
    ) -> None:
        self.lane = lane
        request = lane.request
        self.url = request.url
        self.storage = storage
        self._classic_from = options.ftp_min_part_size
        self._on_probe = on_probe
        # The buffer is made at the first byte, no larger than what is left
        # of the range then: a 1 KiB file does not allocate 1 MiB.
        self._most = options.write_buffer_size
        self._cap = 0
        self._buf = _NO_BUFFER
        self._view = memoryview(self._buf)
        self._fill = 0
        self._closed = False
        # Bound once: the write path runs ~65,000 times per GB/s.
        self._over_budget = budget.over_budget if budget is not None else None
        self._hold = budget.hold if budget is not None else _discard
        self._admit: Callable[[Any, int], float] | None = getattr(budget, "admit", None)
        on_header: Callable[[bytes], int | None] = lane.head.feed
        if request.is_ftp:
            on_header = self._on_ftp_reply if request.probe else lane.replies.feed
        self.curl = new_easy(request, options, self._on_write, on_header)
        if sockets is not None:
            watch_sockets(self.curl, sockets.opener(host, preconnect), sockets.sockopt)

    # -------------------------------------------------------- hot path

    def _on_write(self, chunk: memoryview) -> int | None:
        over_budget = self._over_budget
        if over_budget is not None and over_budget():
            self._hold(self.curl)
            return _PAUSE  # type: ignore[no-any-return]
        lane = self.lane
        admit = self._admit
        if admit is not None:
            due = admit(self.curl, len(chunk))
            if due:
                lane.held_until = due
                return _PAUSE  # type: ignore[no-any-return]
        if not lane.first_byte_at:
            # (A redirect's body stops here: its answer is no answer of the file's.)
            lane.first_byte_at = time.monotonic()
            if not lane.head_checked and not self.check_head():
                return _ABORT
            self._make_buffer()
        size = len(chunk)
        pos = lane.pos
        end = lane.end
        stop = False
        if end is not None and pos + size >= end:
            if pos + size > end and end == lane.natural_end and lane.request.is_ftp:
                # Past the size the server gave: the file grew, or the size
                # was another file's. Never a silently cut copy.
                lane.error = RemoteFileChangedError(
                    f"the server sent more than the {end} bytes it announced", url=self.url
                )
                return _ABORT
            if pos + size > end or end != lane.natural_end:
                stop = True
            size = end - pos
            if size < len(chunk):
                chunk = chunk[:size]
        fill = self._fill
        try:
            if fill + size > self._cap:
                self.flush()
                fill = 0
            if size > self._cap:
                self.storage.write_at(chunk, pos)
                lane.flushed = pos + size
            else:
                self._view[fill : fill + size] = chunk
                self._fill = fill + size
            lane.pos = pos + size
            if stop:
                self.flush()
        except StorageError as exc:
            lane.error = exc
            return _ABORT
        if stop:
            lane.reached_end = True
            return _ABORT
        return None

    def _make_buffer(self) -> None:
        lane = self.lane
        if lane.request.date_only:
            left = 0  # what comes is no byte of the file (FTP's MDTM and SIZE answers)
        else:
            left = self._most if lane.end is None else lane.end - lane.pos
        self._cap = max(1, min(self._most, left))
        self._buf = bytearray(self._cap)
        self._view = memoryview(self._buf)

    def _on_ftp_reply(self, line: bytes) -> int | None:
        """The first FTP transfer is planned at its SIZE answer: RETR and the
        data connection are still to come, a round trip or two before the
        first byte, and the other ranges can start logging in meanwhile."""
        lane = self.lane
        replies = lane.replies
        replies.feed(line)
        if replies.bad is not None:
            lane.error = ProtocolError(replies.bad.message, url=self.url)
            return _ABORT
        listing = lane.request.listing
        code = replies.listing_code
        if listing is not None and code is not None and not replies.listed:
            # Refused (no MLST): a small file's size may still come with
            # RETR's reply, its date after the bytes (the DATING state). Facts of a
            # link or a directory, no size, or a file large enough to be
            # split or resumed (which wants its date from the start): stopped,
            # and the file is asked again with MDTM and SIZE.
            refused = code in NOT_UNDERSTOOD  # no MLST (550 may be the path's)
            unsized = replies.opened and (
                replies.size is None or replies.size >= self._classic_from
            )
            if not refused or unsized:
                lane.listing_refused = refused
                return _ABORT
        announced = replies.announced
        contradicted = replies.listed and announced is not None and announced != replies.size
        if listing is not None and contradicted:
            # proftpd lists a symbolic link itself (its own size) and sends
            # the file it points to: the plan made from the listed size is
            # wrong. The file is asked again with MDTM and SIZE.
            lane.listing_refused = False
            return _ABORT
        if lane.head_checked or replies.size is None:
            return None
        return None if self.check_head() else _ABORT  # any count but the line's stops it

    def check_head(self) -> bool:
        """Before the first byte: is this answer our bytes of our file? A first
        request's answer goes to ``on_probe``, which says where its range ends.
        False: stop the transfer (``lane`` says why)."""
        lane = self.lane
        lane.head_checked = True
        try:
            probe = read_answer(lane)
        except DownloadError as exc:
            lane.error = exc
            return False
        if lane.redirect is not None:
            return False
        if probe is not None:
            lane.probe_result = probe
            if self._on_probe is not None:
                # Arithmetic only: the plan is made later, outside libcurl.
                lane.end = self._on_probe(probe)
                lane.natural_end = probe.size  # the server sends to the end of the file
        return not lane.halted

    def read_stat(self) -> None:
        """An SFTP transfer's stat (size and date), read after its end:
        pycurl forbids getinfo inside libcurl's callbacks."""
        lane = self.lane
        lane.stat_size = self._info(pycurl.CONTENT_LENGTH_DOWNLOAD_T)
        lane.stat_mtime = self._info(pycurl.INFO_FILETIME)

    def _info(self, what: int) -> int | None:
        try:
            value = int(self.curl.getinfo(what))
        except pycurl.error:
            return None
        return value if value >= 0 else None

    def flush(self) -> None:
        """Write what the buffer holds; on failure (StorageError) nothing is
        counted as flushed and the bytes stay in the buffer."""
        fill = self._fill
        if fill:
            lane = self.lane
            self.storage.write_at(self._view[:fill], lane.flushed)
            lane.flushed += fill
            self._fill = 0

    # ---------------------------------------------------------- outside callbacks

    def note_connection(self) -> None:
        """Record whether libcurl made a new connection for this transfer (not
        a cached one), once its first byte came."""
        lane = self.lane
        if lane.first_byte_at and lane.fresh_connection is None:
            lane.fresh_connection = bool(self.curl.getinfo(pycurl.NUM_CONNECTS))

    def socket(self) -> int | None:
        """libcurl's descriptor for this transfer (None: closed, or no
        connection yet)."""
        try:
            fd = int(self.curl.getinfo(pycurl.ACTIVESOCKET))
        except pycurl.error:
            return None
        return fd if fd >= 0 else None

    @property
    def buffered(self) -> int:
        return self._fill

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Free the handle and the buffer; the lane stays readable."""
        self._closed = True
        self.curl.close()
        self._view.release()
        # Finished transfers may be kept for statistics: without this every
        # split would keep 1 MiB alive and memory would grow with file size.
        self._buf = _NO_BUFFER
        self._view = memoryview(self._buf)
        self._fill = 0
        self._cap = 0


_NO_BUFFER = bytearray()


def _discard(data: bytes | memoryview) -> None:
    return None
