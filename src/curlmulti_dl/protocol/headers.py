"""Pure parsing of what the header callback sees (HTTP heads, FTP replies). No I/O.

libcurl hands every header line of every response (redirects, 100-continue)
to HEADERFUNCTION; ``ResponseHead`` keeps only the last response's lines by
starting over at each status line.

Numbers in answers are input: a size, a ``Content-Range`` or a byte count
that is not ASCII digits, is 2**63 or more, or does not add up is a
``ProtocolError``, never a number that reaches the file calls. Nothing here
raises inside libcurl's header callback (pycurl would print the traceback
and abort with code 23): ``ResponseHead`` raises when its headers are read
(by the check before the first byte, which stores the error on the
transfer), and ``FtpReplies`` keeps the error in ``bad``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .._exceptions import ProtocolError
from .readable import ftp_time, shown, size_of

__all__ = [
    "ContentRange",
    "FtpReplies",
    "ResponseHead",
    "parse_content_range",
    "parse_ftp_time",
    "parse_status_line",
]

_STATUS_RE = re.compile(rb"^HTTP/(\d(?:\.\d)?)\s+(\d{3})(?:\s+(.*))?$")
_RANGE_RE = re.compile(r"^\s*bytes\s+(?:([0-9]+)-([0-9]+)|\*)\s*/\s*([0-9]+|\*)\s*$", re.IGNORECASE)


def parse_status_line(line: bytes) -> int | None:
    """The status code of an ``HTTP/x y reason`` line, or None for other lines.

    >>> parse_status_line(b"HTTP/1.1 206 Partial Content\\r\\n")
    206
    """
    match = _STATUS_RE.match(line.strip())
    return int(match.group(2)) if match else None


@dataclass(frozen=True)
class ContentRange:
    """A parsed ``Content-Range``: ``first``..``last`` inclusive of ``total``.

    ``first``/``last`` are None for an unsatisfied range (``bytes */N``);
    ``total`` is None when the server wrote ``*``.
    """

    first: int | None
    last: int | None
    total: int | None


def parse_content_range(value: str) -> ContentRange:
    """Parse a ``Content-Range`` value; ``ProtocolError`` when it cannot be
    read: not ``bytes FIRST-LAST/TOTAL`` (or ``bytes */TOTAL``), a number of
    2**63 or more, LAST before FIRST, or LAST at or past TOTAL.

    >>> parse_content_range("bytes 0-99/1000")
    ContentRange(first=0, last=99, total=1000)
    """
    match = _RANGE_RE.match(value)
    if not match or match.groups()[::2] == (None, "*"):
        raise ProtocolError(f"Content-Range {shown(value)} is not a byte range")
    first_s, last_s, total_s = match.groups()
    total = None if total_s == "*" else size_of(total_s, "Content-Range total")
    if first_s is None:
        return ContentRange(None, None, total)
    first, last = size_of(first_s, "Content-Range start"), size_of(last_s, "Content-Range end")
    if last < first or (total is not None and last >= total):
        raise ProtocolError(f"Content-Range {shown(value)} does not add up")
    return ContentRange(first, last, total)


@dataclass
class ResponseHead:
    """Header lines of the last HTTP response seen on a transfer (a 1xx
    answer is followed by the real one; a redirect ends the transfer, as no
    request follows redirects inside libcurl: ``protocol.redirects``).
    ``url``: the URL that answered."""

    url: str
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    complete: bool = False

    def feed(self, line: bytes) -> None:
        """Take one header line as libcurl passes it (with its CRLF)."""
        status = parse_status_line(line)
        if status is not None:
            self.status = status
            self.headers = {}
            self.complete = False
            return
        text = line.decode("latin-1").rstrip("\r\n")
        if not text:
            self.complete = True
            return
        name, sep, value = text.partition(":")
        if sep:
            self.headers[name.strip().lower()] = value.strip()

    @property
    def content_range(self) -> ContentRange | None:
        """None without the header; ``ProtocolError`` when it cannot be read."""
        value = self.headers.get("content-range")
        try:
            return parse_content_range(value) if value is not None else None
        except ProtocolError as exc:
            raise ProtocolError(exc.message, url=self.url) from None

    @property
    def content_length(self) -> int | None:
        """None without the header; ``ProtocolError`` when it cannot be read."""
        value = self.headers.get("content-length")
        if value is None:
            return None
        # RFC 9110 8.6: a list of one value repeated is that value.
        values = {part.strip() for part in value.split(",")}
        try:
            if len(values) != 1:
                raise ProtocolError(f"Content-Length {shown(value)} is not one number")
            return size_of(values.pop(), "Content-Length")
        except ProtocolError as exc:
            raise ProtocolError(exc.message, url=self.url) from None

    @property
    def etag(self) -> str | None:
        return self.headers.get("etag")

    @property
    def last_modified(self) -> str | None:
        return self.headers.get("last-modified")

    @property
    def retry_after(self) -> str | None:
        return self.headers.get("retry-after")


_TIME_RE = re.compile(r"[0-9]{14}(?:\.[0-9]+)?")
_BYTES_RE = re.compile(r"\(([0-9]+) bytes\)", re.IGNORECASE)


def parse_ftp_time(value: str) -> int | None:
    """Seconds since the epoch of an FTP time (``YYYYMMDDHHMMSS[.sss]``, UTC),
    as MDTM and MLST's ``modify`` fact give it; None if it is not one.

    >>> parse_ftp_time("20231123000000.123")
    1700697600
    """
    seconds = ftp_time(value)
    if seconds is None or not (1970 <= int(value[:4]) <= 2200):
        return None
    return seconds


@dataclass
class FtpReplies:
    """What an FTP server said before the data: the file's size and date.

    libcurl hands every server reply line to HEADERFUNCTION. They come from
    SIZE and MDTM (both ``213``: a 14-digit date is MDTM's, any other number
    SIZE's), or from one MLST (a facts line, `` size=N;modify=T; path``), or,
    failing those, from the RETR reply's ``(N bytes)``.

    >>> replies = FtpReplies()
    >>> for line in (b"213 20231123000000\\r\\n", b"213 1048576\\r\\n"):
    ...     replies.feed(line)
    >>> replies.size, replies.mtime
    (1048576, 1700697600)
    >>> listed = FtpReplies()
    >>> for line in (b"250-Listing b.dat", b" modify=20231123000000;size=42; /a/b.dat", b"250 End"):
    ...     listed.feed(line + b"\\r\\n")
    >>> listed.size, listed.mtime, listed.listed
    (42, 1700697600, True)

    A size that cannot be read (not ASCII digits, 2**63 or more) leaves
    ``size`` alone and sets ``bad``: the transfer fails with it.
    """

    size: int | None = None
    mtime: int | None = None
    listed: bool = False  # an MLST facts line gave the size
    opened: bool = False  # the RETR reply (125/150): the data is on its way
    listing_code: int | None = None  # the MLST reply's (the first after EPSV/PASV but TYPE's)
    last_code: int | None = None  # of the last final reply line (421, 550, ...)
    last_text: str = ""
    take_announced: bool = True  # a RETR from byte 0: its "(N bytes)" is the file's size
    announced: int | None = None  # that "(N bytes)", whatever else gave the size
    bad: ProtocolError | None = None  # the first size that could not be read
    _passive: bool = False
    _in_listing: bool = False

    def feed(self, line: bytes) -> None:
        if line.startswith(b" "):
            if self._in_listing:
                self._facts(line[1:].decode("latin-1"))
            return
        self._in_listing = line.startswith(b"250-")
        if len(line) >= 4 and line[:3].isdigit() and line[3:4] == b" ":
            self._final(int(line[:3]), line[4:].decode("latin-1").strip())
        if not line.startswith(b"213 "):
            return
        value = line[4:].decode("latin-1").strip()
        if _TIME_RE.fullmatch(value):
            # MDTM's (a 14-digit number is a date, as libcurl takes it too);
            # one that names no real moment says nothing.
            mtime = parse_ftp_time(value)
            if mtime is not None:
                self.mtime = mtime
        elif value.isdigit():  # any script's digits: ASCII ones or a bad answer
            self.size = self._size(value, "SIZE answer")

    def _final(self, code: int, text: str) -> None:
        self.last_code, self.last_text = code, text
        if code in (125, 150):
            self.opened = True
            # The last match: a file name may hold "(5 bytes)" too.
            announced = _BYTES_RE.findall(text)
            if announced and self.take_announced:
                self.announced = self._size(announced[-1], "RETR announced")
                if self.size is None:
                    self.size = self.announced
        elif code in (227, 229):
            self._passive = True
        elif self._passive and self.listing_code is None and code != 200 and code >= 200:
            self.listing_code = code

    def _size(self, text: str, what: str) -> int | None:
        try:
            return size_of(text, what)
        except ProtocolError as exc:
            self.bad = self.bad or exc
            return None

    def _facts(self, entry: str) -> None:
        """An MLST entry: ``fact=value;...; pathname`` (RFC 3659, 7.2)."""
        facts, _, _ = entry.partition(" ")
        found: dict[str, str] = {}
        for fact in facts.split(";"):
            name, equals, value = fact.partition("=")
            if equals:
                found[name.strip().lower()] = value.strip()
        size, modify = found.get("size", ""), found.get("modify", "")
        if found.get("type", "file").lower() != "file" or not size:
            return
        self.size = self._size(size, "MLST size")
        if self.size is None:
            return
        self.listed = True
        mtime = parse_ftp_time(modify)
        if mtime is not None:
            self.mtime = mtime
