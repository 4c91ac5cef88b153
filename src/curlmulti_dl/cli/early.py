"""A connection to the command's one HTTP(S) URL, started before the rest of
the program loads (``launch``), with nothing but ``socket`` imported.

Any doubt (several URLs, a proxy in the environment, ``--no-preconnect``, a
name that does not resolve) means no early connection, and the download goes
on as it would without. The first request waits for that connection only
``patience`` seconds: a connection that is slow to answer is dropped and
libcurl connects on its own, trying the name's other addresses (happy
eyeballs). That is 0.2 s, libcurl's head start for the first address family,
when the name has addresses of two families (an IPv6 route that drops packets
must not cost more than libcurl would lose to it), and 1 s otherwise (a
satellite link's round trip).
"""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["EarlyConnection"]

# libcurl's proxy variables: with any of them set, the first connection may
# go to a proxy, not to the URL's host.
_PROXY_VARIABLES = ("http_proxy", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")
_PORTS = {"http": 80, "https": 443}
_PATIENCE_ONE_FAMILY = 1.0
_PATIENCE_TWO_FAMILIES = 0.2  # libcurl's CURLOPT_HAPPY_EYEBALLS_TIMEOUT_MS default


@dataclass
class EarlyConnection:
    """A connection started for ``url`` before the program loaded."""

    url: str
    address: tuple[Any, ...]  # (family, socktype, protocol, sockaddr), as libcurl gives it
    sock: socket.socket
    patience: float  # seconds the first request waits for it to connect

    @classmethod
    def for_arguments(cls, argv: Sequence[str]) -> EarlyConnection | None:
        """Start the connection for the one HTTP(S) URL among ``argv``, if any."""
        if any(os.environ.get(v) for v in _PROXY_VARIABLES):
            return None
        # Only when the command surely downloads one HTTP URL: no other URL,
        # no option that might be --no-preconnect (or its abbreviation), help or version.
        if any(a.startswith("--no-p") or a in ("-h", "--help", "--version") for a in argv):
            return None
        if any(a.startswith(("-x", "--pro", "--nop")) for a in argv):  # a proxy in the way
            return None
        urls = [a for a in argv if "://" in a]
        if len(urls) != 1 or not urls[0].startswith(("http://", "https://")):
            return None
        try:
            from urllib.parse import urlsplit  # 2 ms: only past the checks

            parts = urlsplit(urls[0])
            host, port = parts.hostname, parts.port or _PORTS[parts.scheme]
            if not host or not host.isascii():
                return None
            found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            family, kind, proto, _, sockaddr = found[0]
            sock = socket.socket(family, kind, proto)
        except (OSError, ValueError, KeyError, UnicodeError):
            return None
        sock.setblocking(False)
        if sock.connect_ex(sockaddr) not in (0, errno.EINPROGRESS):
            sock.close()
            return None
        two_families = len({entry[0] for entry in found}) > 1
        patience = _PATIENCE_TWO_FAMILIES if two_families else _PATIENCE_ONE_FAMILY
        return cls(urls[0], (family, kind, proto, sockaddr), sock, patience)
