"""One byte range on one easy handle, and its write path (the hot loop).

libcurl hands at most 16 KiB per write call, ~65,000 calls per GB/s, so the
write callback does as little as it can: copy the chunk into a fixed,
preallocated buffer and, when it is full, one ``pwrite`` at the range's offset.
A range stops exactly at ``end`` even when rebalancing moved ``end`` after the
request went out: the bytes past it are never written, and the transfer is
aborted on purpose (``reached_end`` tells that abort from a failure).
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any, Protocol

import pycurl

from ._config import DownloadOptions, milliseconds
from ._exceptions import DownloadError, StorageError
from ._headers import ResponseHead

if TYPE_CHECKING:
    from ._storage import Storage

__all__ = ["RangeTransfer", "TransferOwner"]

_PAUSE = pycurl.WRITEFUNC_PAUSE
_ABORT = 0  # any count other than len(chunk) makes libcurl stop with code 23


class TransferOwner(Protocol):
    """What a transfer needs from the download it belongs to."""

    url: str
    storage: Storage

    def accept_head(self, transfer: RangeTransfer) -> None:
        """Check the response before its first byte is written; raise to refuse."""


class RangeTransfer:
    """Bytes ``[start, end)`` of one file over one connection.

    ``end`` is None while the size is unknown (a single stream to EOF).
    ``requested_end`` is the end the request asked for (None: to EOF), and
    ``natural_end`` where the server will stop by itself (the file size for a
    request to EOF, when known). Reaching ``end`` before ``natural_end`` means
    rebalancing or planning cut this range short: the transfer is aborted there.
    """

    def __init__(
        self,
        owner: TransferOwner,
        url: str,
        start: int,
        end: int | None,
        *,
        options: DownloadOptions,
        is_ftp: bool,
        probe: bool = False,
        to_eof: bool = False,
        if_range: str | None = None,
        over_budget: Any = None,
        hold: Any = None,
    ) -> None:
        self.owner = owner
        self.url = url
        self.start = start
        self.pos = start
        self.end = end
        self.requested_end = None if to_eof else end
        self.natural_end = end
        self.is_ftp = is_ftp
        self.probe = probe
        self.head = ResponseHead(url)
        self.head_checked = is_ftp
        self.error: DownloadError | None = None
        self.reached_end = False
        self.added_at = 0.0
        self.first_byte_at = 0.0
        # Where the download's tick last saw ``pos`` move, and when (quiet tails).
        self.seen_pos = start
        self.seen_at = 0.0
        self.done = False
        self.replacements = 0  # how often this range was moved off a slow connection
        self._cap = options.write_buffer_size
        self._buf = bytearray(self._cap)
        self._view = memoryview(self._buf)
        self._fill = 0
        self._over_budget = over_budget
        self._hold = hold
        self.curl = self._make_handle(options, if_range)

    # ----------------------------------------------------------- set-up

    def _make_handle(self, options: DownloadOptions, if_range: str | None) -> Any:
        curl = pycurl.Curl()
        curl.setopt(pycurl.URL, self.url)
        curl.setopt(pycurl.NOSIGNAL, 1)
        # The connection closes when the transfer ends, so a host's slot (held
        # by the Downloader from add to done) is exactly the socket's lifetime:
        # no idle cached connection counts against a server's cap unseen.
        curl.setopt(pycurl.FORBID_REUSE, 1)
        curl.setopt(pycurl.PROTOCOLS, _PROTOCOLS)
        curl.setopt(pycurl.REDIR_PROTOCOLS, pycurl.PROTO_HTTP | pycurl.PROTO_HTTPS)
        curl.setopt(pycurl.WRITEFUNCTION, self._on_write, use_memoryview=True)
        curl.setopt(pycurl.BUFFERSIZE, options.buffer_size)
        curl.setopt(pycurl.CONNECTTIMEOUT_MS, milliseconds(options.connect_timeout))
        curl.setopt(pycurl.LOW_SPEED_LIMIT, options.stall_bytes_per_second)
        curl.setopt(pycurl.LOW_SPEED_TIME, max(1, math.ceil(options.stall_timeout)))
        curl.setopt(pycurl.USERAGENT, options.user_agent)
        curl.setopt(pycurl.SSL_VERIFYPEER, 1 if options.verify_tls else 0)
        curl.setopt(pycurl.SSL_VERIFYHOST, 2 if options.verify_tls else 0)
        if options.cacert:
            curl.setopt(pycurl.CAINFO, options.cacert)
        last = "" if self.requested_end is None else str(self.requested_end - 1)
        byte_range = f"{self.start}-{last}"
        if self.is_ftp:
            curl.setopt(pycurl.HEADERFUNCTION, _ignore_header)
            curl.setopt(pycurl.FTP_USE_EPSV, 1)
            if options.ftp_tls:
                curl.setopt(pycurl.USE_SSL, pycurl.USESSL_ALL)
            if byte_range != "0-":  # the whole file is a plain RETR, no REST
                curl.setopt(pycurl.RANGE, byte_range)
        else:
            curl.setopt(pycurl.HEADERFUNCTION, self.head.feed)
            curl.setopt(pycurl.RANGE, byte_range)
            # Only the first request follows redirects: every other range must
            # come from the same effective URL, never from another mirror.
            curl.setopt(pycurl.FOLLOWLOCATION, 1 if self.probe else 0)
            curl.setopt(pycurl.MAXREDIRS, 10)
            headers = ["Accept-Encoding: identity"]
            if if_range:
                headers.append(f"If-Range: {if_range}")
            curl.setopt(pycurl.HTTPHEADER, headers)
        return curl

    # -------------------------------------------------------- hot path

    def _on_write(self, chunk: memoryview) -> int | None:
        if self._over_budget is not None and self._over_budget():
            self._hold(self.curl)
            return _PAUSE  # type: ignore[no-any-return]
        if not self.first_byte_at:
            self.first_byte_at = time.monotonic()
            if not self.head_checked:
                self.head_checked = True
                try:
                    self.owner.accept_head(self)
                except DownloadError as exc:
                    self.error = exc
                    return _ABORT
        size = len(chunk)
        pos = self.pos
        end = self.end
        stop = False
        if end is not None and pos + size >= end:
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
                self.owner.storage.write_at(chunk, pos)
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

    def flush(self) -> None:
        """Write what the buffer still holds (raises StorageError)."""
        fill = self._fill
        if fill:
            self._fill = 0
            self.owner.storage.write_at(self._view[:fill], self.pos - fill)

    # ---------------------------------------------------------- outside callbacks

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
        # The download keeps finished transfers for its byte count: without this
        # every split would keep 1 MiB alive and memory would grow with file size.
        self._buf = bytearray()
        self._view = memoryview(self._buf)
        self._fill = 0


_PROTOCOLS = pycurl.PROTO_HTTP | pycurl.PROTO_HTTPS | pycurl.PROTO_FTP | pycurl.PROTO_FTPS


def _ignore_header(line: bytes) -> None:
    return None
