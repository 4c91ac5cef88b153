"""Pure parsing of what the header callback sees (HTTP heads, FTP replies). No I/O.

libcurl hands every header line of every response (redirects, 100-continue)
to HEADERFUNCTION; ``ResponseHead`` keeps only the last response's lines by
starting over at each status line.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field
from urllib.parse import urljoin

__all__ = [
    "ContentRange",
    "FtpReplies",
    "ResponseHead",
    "parse_content_range",
    "parse_ftp_time",
    "parse_status_line",
]

_STATUS_RE = re.compile(rb"^HTTP/(\d(?:\.\d)?)\s+(\d{3})(?:\s+(.*))?$")
_RANGE_RE = re.compile(r"^\s*bytes\s+(?:(\d+)-(\d+)|\*)\s*/\s*(\d+|\*)\s*$", re.IGNORECASE)


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


def parse_content_range(value: str) -> ContentRange | None:
    """Parse a ``Content-Range`` value; None when it is malformed.

    >>> parse_content_range("bytes 0-99/1000")
    ContentRange(first=0, last=99, total=1000)
    """
    match = _RANGE_RE.match(value)
    if not match:
        return None
    first_s, last_s, total_s = match.groups()
    total = None if total_s == "*" else int(total_s)
    if first_s is None:
        return ContentRange(None, None, total) if total is not None else None
    first, last = int(first_s), int(last_s)
    if last < first or (total is not None and last >= total):
        return None
    return ContentRange(first, last, total)


@dataclass
class ResponseHead:
    """Header lines of the last HTTP response seen on a transfer.

    ``url`` follows ``Location`` headers so that it ends as the effective URL.
    """

    url: str
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    complete: bool = False

    def feed(self, line: bytes) -> None:
        """Take one header line as libcurl passes it (with its CRLF)."""
        status = parse_status_line(line)
        if status is not None:
            if self.status is not None and 300 <= self.status < 400:
                location = self.headers.get("location")
                if location:
                    self.url = urljoin(self.url, location)
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
        value = self.headers.get("content-range")
        return parse_content_range(value) if value is not None else None

    @property
    def content_length(self) -> int | None:
        value = self.headers.get("content-length", "")
        return int(value) if value.isdigit() else None

    @property
    def etag(self) -> str | None:
        return self.headers.get("etag")

    @property
    def last_modified(self) -> str | None:
        return self.headers.get("last-modified")

    @property
    def retry_after(self) -> str | None:
        return self.headers.get("retry-after")


_MDTM_RE = re.compile(r"^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:\.\d+)?$")
_BYTES_RE = re.compile(r"\((\d+) bytes\)", re.IGNORECASE)


def parse_ftp_time(value: str) -> int | None:
    """Seconds since the epoch of an FTP time (``YYYYMMDDHHMMSS[.sss]``, UTC),
    as MDTM and MLST's ``modify`` fact give it; None if it is not one.

    >>> parse_ftp_time("20231123000000.123")
    1700697600
    """
    date = _MDTM_RE.match(value)
    if date is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in date.groups())
    if not (1970 <= year <= 2200 and 1 <= month <= 12 and 1 <= day <= 31):
        return None
    return calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))


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
        mtime = parse_ftp_time(value)
        if mtime is not None:
            self.mtime = mtime
        elif value.isdigit():
            self.size = int(value)

    def _final(self, code: int, text: str) -> None:
        self.last_code, self.last_text = code, text
        if code in (125, 150):
            self.opened = True
            # The last match: a file name may hold "(5 bytes)" too.
            announced = _BYTES_RE.findall(text)
            if announced and self.take_announced:
                self.announced = int(announced[-1])
                if self.size is None:
                    self.size = self.announced
        elif code in (227, 229):
            self._passive = True
        elif self._passive and self.listing_code is None and code != 200 and code >= 200:
            self.listing_code = code

    def _facts(self, entry: str) -> None:
        """An MLST entry: ``fact=value;...; pathname`` (RFC 3659, 7.2)."""
        facts, _, _ = entry.partition(" ")
        found: dict[str, str] = {}
        for fact in facts.split(";"):
            name, equals, value = fact.partition("=")
            if equals:
                found[name.strip().lower()] = value.strip()
        size, modify = found.get("size", ""), found.get("modify", "")
        if found.get("type", "file").lower() != "file" or not size.isdigit():
            return
        self.size = int(size)
        self.listed = True
        mtime = parse_ftp_time(modify)
        if mtime is not None:
            self.mtime = mtime
