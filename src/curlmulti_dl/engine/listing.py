"""One directory listing over the bridge: an FTP ``MLSD`` or ``NLST`` on a
connection of the host (a cached session when one waits), or the GET of an
HTTP index page, its body kept in memory (at most ``LIMIT`` bytes).

The caller holds a connection slot of the host for it (the Downloader).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pycurl

from .._config import DownloadOptions
from .._exceptions import DownloadError, HTTPStatusError
from .curl_errors import error_from_curl
from .curlopts import configure_listing, watch_sockets
from .multi import CurlBridge
from .sockets import SocketRegistry

__all__ = ["LIMIT", "fetch_listing"]

LIMIT = 64 * 1024 * 1024  # a directory of about a million names


async def fetch_listing(
    bridge: CurlBridge,
    url: str,
    options: DownloadOptions,
    command: str,
    sockets: SocketRegistry | None = None,
    host: str = "",
) -> bytes:
    """The listing's bytes; ``command`` is "MLSD", "LIST", "NLST" or "GET"
    (or "LOGIN:<file method>": no bytes, a session left in the cache).
    Raises the ``DownloadError`` that describes libcurl's failure."""
    body = bytearray()
    status = [0]
    too_large = [False]

    def on_write(chunk: memoryview) -> int | None:
        if len(body) + len(chunk) > LIMIT:
            too_large[0] = True
            return 0  # any count but len(chunk) stops the transfer
        body.extend(chunk)
        return None

    def on_header(line: bytes) -> None:
        if line.startswith(b"HTTP/"):
            parts = line.split()
            status[0] = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0

    curl: Any = pycurl.Curl()
    configure_listing(curl, url, options, command, on_write, on_header)
    if sockets is not None:
        watch_sockets(curl, sockets.opener(host, None), sockets.sockopt)
    done: asyncio.Future[tuple[int, str]] = bridge.loop.create_future()

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
        raise DownloadError(f"the listing is larger than {LIMIT} bytes", url=url)
    if code != 0:
        raise error_from_curl(code, message, url)
    if status[0] >= 400:
        raise HTTPStatusError(f"HTTP status {status[0]}", url=url, status=status[0])
    return bytes(body)
