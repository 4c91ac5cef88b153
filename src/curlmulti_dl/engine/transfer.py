"""One byte range on one easy handle, and its write path (the hot loop).

libcurl hands at most 16 KiB per write call, ~65,000 calls per GB/s, so the
write callback does as little as it can: copy the chunk into a fixed,
preallocated buffer and, when it is full, one ``pwrite`` at the range's offset.
A range stops exactly at ``end`` even when rebalancing moved ``end`` after the
request went out: the bytes past it are never written, and the transfer is
aborted on purpose (``reached_end`` tells that abort from a failure).

A transfer knows nothing of its download. Before its first byte it checks its
own response (a ``RangeExpectation``, or for the first request builds the
``ProbeResult``) and reports the probe through ``on_probe``, which only
schedules; everything else is read from it after libcurl is done with it.
A first answer that is a redirect is no answer of the file's: ``check_head``
raises ``Redirected`` at its first byte (its body is never read, however
long) or at its end, for the download to follow.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

import pycurl

from .._config import DownloadOptions
from .._exceptions import DownloadError, ProtocolError, RemoteFileChangedError, StorageError
from ..protocol.ftpdialect import NOT_UNDERSTOOD, ListingUnusable
from ..protocol.headers import FtpReplies, ResponseHead
from ..protocol.probe import ProbeResult, RangeExpectation, probe_from_ftp, probe_from_http
from ..protocol.redirects import Redirected, location_of
from .curlopts import RangeRequest, new_easy, watch_sockets
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
    """Bytes ``[start, end)`` of one file over one connection.

    ``end`` is None while the size is unknown (a single stream to EOF);
    ``natural_end`` is where the server stops by itself. Reaching ``end``
    before ``natural_end`` means rebalancing cut this range short.
    ``pos`` counts bytes received, ``flushed`` those written to the file;
    the difference sits in the buffer.
    """

    def __init__(
        self,
        request: RangeRequest,
        storage: Writer,
        options: DownloadOptions,
        *,
        expect: RangeExpectation | None = None,
        on_probe: Callable[[RangeTransfer, ProbeResult], int | None] | None = None,
        budget: BudgetHooks | None = None,
        sockets: SocketRegistry | None = None,
        host: str = "",
        replacements: int = 0,
        preconnect: Callable[[], int] | None = None,
    ) -> None:
        self.request = request
        self.url = request.url
        self.start = self.pos = self.flushed = request.start
        self.end = request.end
        self.natural_end = request.end
        self.is_ftp = request.is_ftp
        self.is_sftp = request.is_sftp
        self.probe = request.probe
        self.storage = storage
        self.head = ResponseHead(request.url)
        # After REST, "(N bytes)" in the RETR reply may count what is left.
        self.replies = FtpReplies(take_announced=not request.start)
        self._classic_from = options.ftp_min_part_size
        self.expect = expect
        self.probe_result: ProbeResult | None = None
        self._on_probe = on_probe
        self.head_checked = False  # the answer is checked before its first byte is written
        self.error: DownloadError | None = None
        self.reached_end = False
        self.added_at = 0.0
        self.first_byte_at = 0.0
        # Where the download's tick last saw ``pos`` move, and when (quiet tails).
        self.seen_pos = request.start
        self.seen_at = 0.0
        self.replacements = replacements  # how often this range moved off a slow connection
        self.setup_noted = False  # its set-up time went into the host's profile
        self._cap = options.write_buffer_size
        self._buf = bytearray(self._cap)
        self._view = memoryview(self._buf)
        self._fill = 0
        # Bound once: the write path runs ~65,000 times per GB/s.
        self._over_budget = budget.over_budget if budget is not None else None
        self._hold = budget.hold if budget is not None else _discard
        self._admit: Callable[[Any, int], float] | None = getattr(budget, "admit", None)
        # Until when the rate limit holds this transfer back: not a stall.
        self.held_until = 0.0
        on_header: Callable[[bytes], int | None] = self.head.feed
        if request.is_ftp:
            on_header = self._on_ftp_reply if request.probe else self.replies.feed
        self.curl = new_easy(request, options, self._on_write, on_header)
        if sockets is not None:
            watch_sockets(self.curl, sockets.opener(host, preconnect), sockets.sockopt)

    # -------------------------------------------------------- hot path

    def _on_write(self, chunk: memoryview) -> int | None:
        over_budget = self._over_budget
        if over_budget is not None and over_budget():
            self._hold(self.curl)
            return _PAUSE  # type: ignore[no-any-return]
        admit = self._admit
        if admit is not None:
            due = admit(self.curl, len(chunk))
            if due:
                self.held_until = due
                return _PAUSE  # type: ignore[no-any-return]
        if not self.first_byte_at:
            # (A redirect's body stops here: check_head raises Redirected.)
            self.first_byte_at = time.monotonic()
            if not self.head_checked:
                self.head_checked = True
                try:
                    self.check_head()
                except DownloadError as exc:
                    self.error = exc
                    return _ABORT
        size = len(chunk)
        pos = self.pos
        end = self.end
        stop = False
        if end is not None and pos + size >= end:
            if pos + size > end and end == self.natural_end and self.is_ftp:
                # Past the size the server gave: the file grew, or the size
                # was another file's. Never a silently cut copy.
                self.error = RemoteFileChangedError(
                    f"the server sent more than the {end} bytes it announced", url=self.url
                )
                return _ABORT
            if pos + size > end or end != self.natural_end:
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
                self.flushed = pos + size
            else:
                self._view[fill : fill + size] = chunk
                self._fill = fill + size
            self.pos = pos + size
            if stop:
                self.flush()
        except StorageError as exc:
            self.error = exc
            return _ABORT
        if stop:
            self.reached_end = True
            return _ABORT
        return None

    def _on_ftp_reply(self, line: bytes) -> int | None:
        """The first FTP transfer is planned at its SIZE answer: RETR and the
        data connection are still to come, a round trip or two before the
        first byte, and the other ranges can start logging in meanwhile."""
        replies = self.replies
        replies.feed(line)
        if replies.bad is not None:
            self.error = ProtocolError(replies.bad.message, url=self.url)
            return _ABORT
        code = replies.listing_code
        if self.request.listing is not None and code is not None and not replies.listed:
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
                message = f"MLST answered {code}; no size"
                self.error = ListingUnusable(message, url=self.url, refused=refused)
                return _ABORT
        announced = replies.announced
        contradicted = replies.listed and announced is not None and announced != replies.size
        if self.request.listing is not None and contradicted:
            # proftpd lists a symbolic link itself (its own size) and sends
            # the file it points to: the plan made from the listed size is
            # wrong. The file is asked again with MDTM and SIZE.
            message = f"MLST listed {replies.size} bytes, RETR announced {announced}"
            self.error = ListingUnusable(message, url=self.url, refused=False)
            return _ABORT
        if self.head_checked or replies.size is None:
            return None
        self.head_checked = True
        try:
            self.check_head()
        except DownloadError as exc:
            self.error = exc
            return _ABORT  # any count but the line's length stops the transfer
        return None

    def check_head(self) -> None:
        """Before the first byte: is this answer our bytes of our file?"""
        if self.is_ftp and self.replies.bad is not None:
            raise ProtocolError(self.replies.bad.message, url=self.url)
        if self.expect is not None:
            if self.is_ftp:
                self.expect.check_ftp(self.replies, self.url)
            elif self.is_sftp:
                pass  # its date is compared at its end (RangeBook.learn_date)
            else:
                self.expect.check(self.head, self.url)
            return
        if self.probe:
            if self.is_ftp:
                # SIZE and MDTM came in this very session: no separate probe login.
                result = probe_from_ftp(self.replies.size, self.replies.mtime, self.url)
            elif self.is_sftp:
                # A stat without data, read after its end (RangeBook.first).
                result = probe_from_ftp(self._sftp_size(), self.sftp_mtime(), self.url)
            else:
                location = location_of(self.head)
                if location is not None:
                    raise Redirected(location, url=self.url)
                result = probe_from_http(self.head, self.url, self.start)
            self.probe_result = result
            if self._on_probe is not None:
                # Pure: where this first range ends; the download applies the
                # rest of the probe later, outside libcurl's callbacks.
                self.end = self._on_probe(self, result)
                self.natural_end = result.size  # the server sends to the end of the file

    def _sftp_size(self) -> int | None:
        """An SFTP file's size from the stat the first request is (read after
        its end: pycurl forbids getinfo inside libcurl's callbacks)."""
        try:
            size = int(self.curl.getinfo(pycurl.CONTENT_LENGTH_DOWNLOAD_T))
        except pycurl.error:
            return None
        return size if size >= 0 else None

    def sftp_mtime(self) -> int | None:
        """The file's date from libcurl's stat (after the transfer; None: unknown)."""
        try:
            mtime = int(self.curl.getinfo(pycurl.INFO_FILETIME))
        except pycurl.error:
            return None
        return mtime if mtime >= 0 else None

    def flush(self) -> None:
        """Write what the buffer holds; on failure (StorageError) nothing is
        counted as flushed and the bytes stay in the buffer."""
        fill = self._fill
        if fill:
            self.storage.write_at(self._view[:fill], self.flushed)
            self.flushed += fill
            self._fill = 0

    # ---------------------------------------------------------- outside callbacks

    def opened_connection(self) -> bool:
        """Whether libcurl made a new connection for this transfer (not a
        cached one)."""
        return bool(self.curl.getinfo(pycurl.NUM_CONNECTS))

    def served(self, code: int) -> bool:
        """Whether the server served this request (libcurl's ``code`` for its
        end): bytes of the file came, or it ended cleanly with an answer that
        is no HTTP error. A 429 with an empty body ends cleanly too, and is a
        refusal all the same."""
        if self.pos > self.start:
            return True
        status = self.head.status
        return code == 0 and (self.is_ftp or self.is_sftp or (status is not None and status < 400))

    @property
    def probe_pending(self) -> bool:
        """The first request, before its answer was checked: its end is not
        known to the plan yet."""
        return self.probe and not self.head_checked

    @property
    def buffered(self) -> int:
        return self._fill

    def rate(self, now: float) -> float:
        """Bytes per second since the first byte (0 until there is a measure)."""
        if not self.first_byte_at:
            return 0.0
        span = now - self.first_byte_at
        return (self.pos - self.start) / span if span > 0.05 else 0.0

    def close(self) -> None:
        """Free the handle and the buffer; the transfer's counters stay readable."""
        self.curl.close()
        self._view.release()
        # Finished transfers may be kept for statistics: without this every
        # split would keep 1 MiB alive and memory would grow with file size.
        self._buf = bytearray()
        self._view = memoryview(self._buf)
        self._fill = 0


def _discard(data: bytes | memoryview) -> None:
    return None
