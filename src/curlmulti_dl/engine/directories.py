"""A directory's entries over the bridge, in the form its server gives them:
an SFTP ``ls -l``, an HTTP index page, or on FTP ``MLSD`` (names, sizes and
dates), else ``LIST`` in the Unix form, else ``NLST`` (names only). What an
FTP server answered is kept in its ``FtpDialect``: a server that refused
MLSD is asked with LIST from then on. (S3 prefixes: ``engine.s3access``.)

The caller holds a connection slot of the host for the requests.

Example::

    entries = await read_directory(fetch, "ftp://host/pub/", origin, dialect)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from .._exceptions import DownloadError, ProtocolError, TransportError
from ..protocol.ftpdialect import FtpDialect
from ..protocol.listing import Entry, parse_index_page, parse_list, parse_mlsd, parse_nlst
from ..protocol.urls import Origin

__all__ = ["read_directory"]

#: One request of the listing: its command ("MLSD", "LIST", "NLST", "GET")
#: in, the body out (``engine.listing.fetch_listing`` with the rest bound).
Fetch = Callable[[str], Awaitable[bytes]]


async def read_directory(fetch: Fetch, url: str, origin: Origin, ftp: FtpDialect) -> list[Entry]:
    """The entries of directory ``url``. An answer that cannot be read
    raises ``ProtocolError`` (naming ``url``)."""
    try:
        return await _read(fetch, url, origin, ftp)
    except ProtocolError as exc:  # (the parsers are pure: they know no URL)
        raise exc if exc.url else ProtocolError(exc.message, url=url) from None


async def _read(fetch: Fetch, url: str, origin: Origin, ftp: FtpDialect) -> list[Entry]:
    if origin.is_sftp:
        # libcurl lists an SFTP directory in the form of ``ls -l``.
        listed = parse_list(_text(await fetch("LIST")))
        if listed is None:
            raise ProtocolError("the SFTP listing is not in the ls -l form", url=url)
        return listed
    if not origin.is_ftp:
        return parse_index_page(_text(await fetch("GET")), url)
    if ftp.may_list_directories():
        try:
            text = _text(await fetch("MLSD"))
        except TransportError:
            raise
        except DownloadError:
            ftp.directory_listing_answered(False)  # LIST, then NLST, from now on
        else:
            ftp.directory_listing_answered(True)
            return parse_mlsd(text)  # (one it cannot read fails the listing)
    listed = parse_list(_text(await fetch("LIST")))
    if listed is not None:
        return listed
    return parse_nlst(_text(await fetch("NLST")))


def _text(body: bytes) -> str:
    return body.decode("utf-8", "surrogateescape")
