"""What one transfer asks of a server, as plain data: a byte range of a
URL, and on FTP the commands around it. The engine turns it into libcurl
options (``engine.curlopts``); a file's decisions (``job``) make it.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote_to_bytes, urlsplit

__all__ = ["RangeRequest", "listing_argument"]


@dataclass(frozen=True)
class RangeRequest:
    """Bytes from ``start`` to ``end`` (None: to the end of the file) of ``url``.

    ``probe``: the first request of a download (it follows redirects; on FTP it
    learns the size and date in its own session). ``if_range``: the validator
    the server must still have for the range to be served. FTP only:
    ``ftp_method`` is libcurl's file method; ``listing``, the MLST argument
    that asks size and date in one round trip (None: SIZE and MDTM);
    ``want_date``: MDTM on a range other than the first. ``secrets``: the
    URL is the origin the user's headers and login were given for (False
    after a redirect to another origin: they stay at home).
    """

    url: str
    start: int
    end: int | None
    is_ftp: bool
    probe: bool = False
    is_sftp: bool = False
    if_range: str | None = None
    ftp_method: str = "singlecwd"
    listing: bytes | None = None
    want_date: bool = False  # FTP: ask MDTM (the file's date is not known yet)
    date_only: bool = False  # no data: FTP's MDTM, SFTP's stat (size and date)
    secrets: bool = True  # the user's headers, login and signature go with it

    @property
    def names_a_directory(self) -> bool:
        """FTP without CWD: the commands carry a directory (``dir/file``)."""
        return self.ftp_method == "nocwd" and b"/" in unquote_to_bytes(urlsplit(self.url).path[1:])

    @property
    def byte_range(self) -> str:
        last = "" if self.end is None else str(self.end - 1)
        return f"{self.start}-{last}"


def listing_argument(url: str, ftp_method: str) -> bytes | None:
    """The path MLST must name for ``url`` to be the file RETR fetches (the
    bytes libcurl sends): the whole decoded path without CWD, else its last
    part after libcurl's CWD (libcurl decodes first, then splits at "/").
    None when it cannot be said safely (libcurl refuses such URLs).

    >>> listing_argument("ftp://h/a/b%20c.dat", "nocwd")
    b'a/b c.dat'
    >>> listing_argument("ftp://h/a/sub%2Fb.dat", "singlecwd")
    b'b.dat'
    """
    path = urlsplit(url).path[1:]
    if ";type=" in path.lower():
        return None
    decoded = unquote_to_bytes(path)
    name = decoded if ftp_method == "nocwd" else decoded.rpartition(b"/")[2]
    if not name or name.endswith(b"/") or any(c in name for c in b"\r\n\0"):
        return None
    return name
