"""What the first answer says about the remote file, and what every other
range's answer must then match. Pure: no I/O.

``ProbeResult`` is built from the first HTTP response (a ranged GET) or from an
FTP server's SIZE/MDTM, and applied to the download outside libcurl's
callbacks. ``RangeExpectation`` is what one range transfer checks on its own
response before it writes a byte, with no reference to its download.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from .._exceptions import (
    HTTPStatusError,
    ProtocolError,
    RangeError,
    RangeNotSupportedError,
    RemoteFileChangedError,
    TransportError,
)
from .headers import FtpReplies, ResponseHead
from .integrity import Checksum, digests_from_header
from .readable import SIZE_LIMIT

__all__ = ["ProbeResult", "RangeExpectation", "http_date", "probe_from_ftp", "probe_from_http"]


@dataclass(frozen=True)
class ProbeResult:
    """The remote file as its first answer describes it.

    ``size`` is None when unknown; ``ranged`` whether byte ranges work (more
    than one connection is possible); ``single_reason`` says why not, if not.
    """

    size: int | None
    etag: str | None
    last_modified: str | None
    effective_url: str
    ranged: bool
    single_reason: str | None = None
    digests: tuple[Checksum, ...] = ()  # what the server says the file's digest is

    def __post_init__(self) -> None:
        # Every size that plans, reserves and commits a file passes here:
        # the parsers refuse such answers, and this holds whatever the source.
        if self.size is not None and not 0 <= self.size < SIZE_LIMIT:
            message = f"a size of {self.size} bytes is not one a file can have"
            raise ProtocolError(message, url=self.effective_url)

    @property
    def if_range(self) -> str | None:
        """The validator to send as ``If-Range`` (a strong ETag, else the date)."""
        strong = self.etag if self.etag and not self.etag.startswith("W/") else None
        return strong or self.last_modified


def probe_from_http(head: ResponseHead, url: str, start: int = 0) -> ProbeResult:
    """Read the answer to ``Range: bytes=START-`` (raises ``DownloadError`` for
    an answer that is not the file). ``start`` is 0 but when resuming; a 200
    then means the whole file from byte 0 (its If-Range no longer held)."""
    status = head.status
    if status is None:
        raise TransportError("no HTTP status line in the response", url=url)
    etag, modified, where = head.etag, head.last_modified, head.url
    digests = _server_digests(head)
    if status == 206:
        content_range = head.content_range
        if content_range is None or content_range.first != start:
            raise RangeError(
                f"bad Content-Range {head.headers.get('content-range')!r} for bytes={start}-",
                url=url,
            )
        if content_range.total is None:
            reason = "the server does not tell the size"
            return ProbeResult(None, etag, modified, where, ranged=False, single_reason=reason)
        return ProbeResult(content_range.total, etag, modified, where, True, None, digests)
    if status == 200:
        size = head.content_length
        reason = "the server ignores byte ranges"
        if size is None:
            reason = "the server does not tell the size"
        return ProbeResult(size, etag, modified, where, False, reason, digests)
    if status == 416:
        content_range = head.content_range
        if content_range is not None and content_range.total == 0:
            return ProbeResult(0, etag, modified, where, ranged=False)
    raise HTTPStatusError(f"HTTP status {status}", url=url, status=status)


def _server_digests(head: ResponseHead) -> tuple[Checksum, ...]:
    """The file's digest as the server states it: ``Repr-Digest`` describes
    the whole file whatever part is sent; ``Content-Digest`` only when the
    whole file is the content (a 200)."""
    found = digests_from_header(head.headers.get("repr-digest", ""))
    if head.status == 200:
        found += digests_from_header(head.headers.get("content-digest", ""), "Content-Digest")
    return tuple(found)


def probe_from_ftp(size: int | None, mtime: int | None, url: str) -> ProbeResult:
    """An FTP file from its SIZE and MDTM answers (None: not answered)."""
    last_modified = http_date(mtime) if mtime is not None else None
    if size is None:
        return ProbeResult(
            None, None, last_modified, url, ranged=False, single_reason="the server gave no size"
        )
    return ProbeResult(size, None, last_modified, url, ranged=True)


def http_date(mtime: int) -> str:
    """An HTTP date (what ``last_modified`` holds) of an FTP time."""
    return time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(mtime))


@dataclass(frozen=True)
class RangeExpectation:
    """What the answer to a range request starting at ``start`` must say."""

    start: int
    total: int
    etag: str | None
    last_modified: str | None

    @classmethod
    def for_range(cls, probe: ProbeResult, start: int) -> RangeExpectation:
        assert probe.size is not None
        return cls(start, probe.size, probe.etag, probe.last_modified)

    def check(self, head: ResponseHead, url: str) -> None:
        """Raise ``DownloadError`` unless ``head`` delivers our bytes of our file."""
        status = head.status
        if status == 206:
            content_range = head.content_range
            if content_range is None or content_range.first != self.start:
                raise RangeError(
                    f"asked for bytes from {self.start}, got Content-Range "
                    f"{head.headers.get('content-range')!r}",
                    url=url,
                )
            if content_range.total != self.total:
                raise RemoteFileChangedError(
                    f"size changed from {self.total} to {content_range.total} bytes", url=url
                )
            self._check_validators(head, url)
            return
        if status == 200:
            self._check_validators(head, url)
            if self.start == 0 and head.content_length in (None, self.total):
                return  # the whole file is what a range from byte 0 to the end asks
            raise RangeNotSupportedError(
                "server answered a range request with the whole file", url=url
            )
        if status is None:
            raise TransportError("no HTTP status line in the response", url=url)
        raise HTTPStatusError(f"HTTP status {status}", url=url, status=status)

    def check_ftp(self, replies: FtpReplies, url: str) -> None:
        """An FTP range: the SIZE (and MDTM, when asked) this session got."""
        if replies.size is not None and replies.size != self.total:
            raise RemoteFileChangedError(
                f"size changed from {self.total} to {replies.size} bytes", url=url
            )
        modified = http_date(replies.mtime) if replies.mtime is not None else None
        if modified and self.last_modified and modified != self.last_modified:
            raise RemoteFileChangedError(
                f"modification time changed from {self.last_modified} to {modified}", url=url
            )

    def check_sftp(self, mtime: int | None, url: str) -> None:
        """An SFTP range: the date libcurl's stat of the file got (its size
        is the range's own, so the date is what tells a changed file)."""
        modified = http_date(mtime) if mtime is not None else None
        if modified and self.last_modified and modified != self.last_modified:
            raise RemoteFileChangedError(
                f"modification time changed from {self.last_modified} to {modified}", url=url
            )

    def _check_validators(self, head: ResponseHead, url: str) -> None:
        for name, expected, got in (
            ("ETag", self.etag, head.etag),
            ("Last-Modified", self.last_modified, head.last_modified),
        ):
            if expected and got and expected != got:
                raise RemoteFileChangedError(
                    f"{name} changed from {expected} to {got} during the download", url=url
                )
