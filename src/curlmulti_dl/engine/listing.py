"""One directory listing over the bridge: an FTP ``MLSD`` or ``NLST`` on a
connection of the host (a cached session when one waits), or the GET of an
HTTP index page, its body kept in memory (at most ``LIMIT`` bytes).
The GET follows redirects itself, one request per hop, the user's headers
and login only where they were given for (``protocol.redirects``).

The caller holds a connection slot of the host for it (the Downloader).
"""

from __future__ import annotations

import logging
from typing import Any

import pycurl

from .._config import DownloadOptions
from .._exceptions import HTTPStatusError, ListingLimitError
from ..protocol.headers import ResponseHead
from ..protocol.redirects import RedirectChain, location_of
from .curl_errors import error_from_curl
from .curlopts import configure_listing, watch_sockets
from .multi import CurlBridge
from .runtime import LoopFuture
from .sockets import SocketRegistry

__all__ = ["LIMIT", "fetch_listing"]

_log = logging.getLogger(__name__)

LIMIT = 64 * 1024 * 1024  # a directory of about a million names


async def fetch_listing(
    bridge: CurlBridge,
    url: str,
    options: DownloadOptions,
    command: str,
    sockets: SocketRegistry | None = None,
    host: str = "",
    limit: int = LIMIT,
) -> bytes:
    """The listing's bytes (at most ``limit``); ``command`` is "MLSD", "LIST",
    "NLST" or "GET" (or "LOGIN:<file method>": no bytes, a session left in
    the cache). Raises the ``DownloadError`` that describes libcurl's failure."""
    if command != "GET":
        return (await _fetch_once(bridge, url, options, command, sockets, host, limit=limit))[0]
    chain = RedirectChain(
        url, options.max_redirects, allow_insecure=options.allow_insecure_redirects
    )
    while True:
        secrets = chain.at_origin
        body, head = await _fetch_once(
            bridge, chain.url, options, command, sockets, host, secrets, limit
        )
        location = location_of(head)
        if location is None:
            return body
        chain.follow(location)
        note = chain.left_behind(options.headers, options.auth is not None)
        if note is not None:
            _log.debug(note)


async def _fetch_once(
    bridge: CurlBridge,
    url: str,
    options: DownloadOptions,
    command: str,
    sockets: SocketRegistry | None,
    host: str,
    secrets: bool = True,
    limit: int = LIMIT,
) -> tuple[bytes, ResponseHead]:
    """One request's body and (HTTP) head; a redirect's body is dropped."""
    body = bytearray()
    head = ResponseHead(url)
    too_large = [False]

    def on_write(chunk: memoryview) -> int | None:
        if location_of(head) is not None:
            return None  # a redirect's body: not the listing
        if len(body) + len(chunk) > limit:
            too_large[0] = True
            return 0  # any count but len(chunk) stops the transfer
        body.extend(chunk)
        return None

    curl: Any = pycurl.Curl()
    configure_listing(curl, url, options, command, on_write, head.feed, secrets=secrets)
    if sockets is not None:
        watch_sockets(curl, sockets.opener(host, None), sockets.sockopt)
    done: LoopFuture[tuple[int, str]] = bridge.loop.create_future()

    def finished(code: int, message: str) -> None:
        if not done.done():
            done.set_result((code, message))

    bridge.add(curl, finished)
    try:
        code, message = await done
    finally:
        bridge.remove(curl)
        curl.close()
    if too_large[0]:
        raise ListingLimitError(f"the listing is larger than {limit} bytes", url=url)
    if code != 0:
        raise error_from_curl(code, message, url)
    status = head.status or 0
    if status >= 400:
        raise HTTPStatusError(f"HTTP status {status}", url=url, status=status)
    return bytes(body), head
