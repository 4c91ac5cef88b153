"""Every ``setopt`` of the project, in one place (the socket and timer
functions excepted: only ``multi.py`` touches those).

A transfer describes what it wants as a ``RangeRequest``; this module turns
that into libcurl options, so protocol choices (redirects, FTP commands,
TLS, timeouts) are read and changed here only.

No handle follows redirects (``protocol.redirects`` says why and who does):
a request whose URL is not the origin the user's secrets were given for
(``RangeRequest.secrets`` False) goes without the user's headers, login and
AWS signature.
"""

from __future__ import annotations

import getpass
import math
import os
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pycurl

from .._config import DownloadOptions, milliseconds
from ..protocol.request import RangeRequest

__all__ = [
    "configure_listing",
    "configure_multi",
    "configure_transfer",
    "new_easy",
    "watch_sockets",
]

_PROTOCOLS = (
    pycurl.PROTO_HTTP | pycurl.PROTO_HTTPS | pycurl.PROTO_FTP | pycurl.PROTO_FTPS
    | pycurl.PROTO_SFTP
)  # fmt: skip
_FILE_METHODS = {
    "multicwd": pycurl.FTPMETHOD_MULTICWD,
    "singlecwd": pycurl.FTPMETHOD_SINGLECWD,
    "nocwd": pycurl.FTPMETHOD_NOCWD,
}


def new_easy(
    request: RangeRequest,
    options: DownloadOptions,
    on_write: Callable[[memoryview], int | None],
    on_header: Callable[[bytes], int | None],
) -> Any:
    """A configured easy handle for ``request``."""
    curl = pycurl.Curl()
    configure_transfer(curl, request, options, on_write, on_header)
    return curl


def configure_transfer(
    curl: Any,
    request: RangeRequest,
    options: DownloadOptions,
    on_write: Callable[[memoryview], int | None],
    on_header: Callable[[bytes], int | None],
) -> None:
    set_ = curl.setopt
    set_(pycurl.URL, request.url)
    set_(pycurl.NOSIGNAL, 1)
    # A connection that ends its transfer cleanly (HTTP keep-alive, an FTP
    # RETR that ran to EOF) stays in libcurl's cache and serves the next
    # transfer to that host without a new handshake or login. libcurl counts
    # cached connections against M_MAX_HOST_CONNECTIONS and closes the oldest
    # idle one when a new connection would exceed it (see configure_multi).
    set_(pycurl.FRESH_CONNECT, 0 if options.reuse_connections else 1)
    set_(pycurl.BUFFERSIZE, options.buffer_size)
    _configure_common(curl, options, on_write, on_header, secrets=request.secrets)
    if request.is_ftp:
        _configure_ftp(curl, request, options)
    elif request.is_sftp:
        _configure_sftp(curl, request, options)
    else:
        _configure_http(curl, request, options)


def _configure_common(
    curl: Any,
    options: DownloadOptions,
    on_write: Callable[[memoryview], int | None],
    on_header: Callable[[bytes], Any],
    *,
    secrets: bool = True,
) -> None:
    """What every transfer and listing shares: reuse, protocols, callbacks,
    timeouts, TLS; the login and signature only with ``secrets``."""
    set_ = curl.setopt
    set_(pycurl.FORBID_REUSE, 0 if options.reuse_connections else 1)
    set_(pycurl.PROTOCOLS, _PROTOCOLS)
    set_(pycurl.FOLLOWLOCATION, 0)  # we follow, with the secrets that fit (see above)
    set_(pycurl.WRITEFUNCTION, on_write, use_memoryview=True)
    set_(pycurl.HEADERFUNCTION, on_header)
    set_(pycurl.CONNECTTIMEOUT_MS, milliseconds(options.connect_timeout))
    set_(pycurl.LOW_SPEED_LIMIT, options.stall_bytes_per_second)
    set_(pycurl.LOW_SPEED_TIME, max(1, math.ceil(options.stall_timeout)))
    set_(pycurl.USERAGENT, options.user_agent)
    set_(pycurl.SSL_VERIFYPEER, 1 if options.verify_tls else 0)
    set_(pycurl.SSL_VERIFYHOST, 2 if options.verify_tls else 0)
    if options.cacert:
        set_(pycurl.CAINFO, options.cacert)
    _configure_access(curl, options, secrets)


def _configure_access(curl: Any, options: DownloadOptions, secrets: bool) -> None:
    """Who we are and which way we go: login, netrc, proxy. Away from the
    origin (not ``secrets``) no login or signature: a netrc names its hosts."""
    set_ = curl.setopt
    if options.auth is not None and secrets:
        # Options, not the URL: libcurl keeps them out of every URL it reports.
        set_(pycurl.USERNAME, options.auth.user)
        set_(pycurl.PASSWORD, options.auth.password)
    if options.netrc:
        set_(pycurl.NETRC, pycurl.NETRC_OPTIONAL)  # the URL's or auth's login first
        if isinstance(options.netrc, str):
            set_(pycurl.NETRC_FILE, options.netrc)
    if options.aws_sigv4 is not None and secrets:
        set_(pycurl.AWS_SIGV4, options.aws_sigv4)  # the key and secret from auth
    if options.proxy is not None:
        set_(pycurl.PROXY, options.proxy)  # "": none, whatever the environment says
    if options.noproxy is not None:
        set_(pycurl.NOPROXY, options.noproxy)


def _configure_http(curl: Any, request: RangeRequest, options: DownloadOptions) -> None:
    curl.setopt(pycurl.RANGE, request.byte_range)
    headers = ["Accept-Encoding: identity", *(options.headers if request.secrets else ())]
    if request.if_range:
        headers.append(f"If-Range: {request.if_range}")
    curl.setopt(pycurl.HTTPHEADER, headers)


def _configure_ftp(curl: Any, request: RangeRequest, options: DownloadOptions) -> None:
    curl.setopt(pycurl.FTP_USE_EPSV, 1)  # libcurl falls back to PASV when refused
    curl.setopt(pycurl.FTP_FILEMETHOD, _FILE_METHODS[request.ftp_method])
    if options.ftp_tls:
        curl.setopt(pycurl.USE_SSL, pycurl.USESSL_ALL)
    if request.date_only:
        # No body: libcurl reaches the file as for RETR (its own CWDs from
        # wherever the cached session is) and asks MDTM, then SIZE and REST 0,
        # all in its state machine.
        curl.setopt(pycurl.NOBODY, 1)
        curl.setopt(pycurl.OPT_FILETIME, 1)
        return
    if request.listing is not None and not request.start:
        # One MLST for size and date, in place of MDTM and SIZE: a round trip
        # saved per file. "*": a server without MLST does not fail the
        # transfer. No SIZE means libcurl reads to EOF, which a range from
        # byte 0 wants anyway (it stops itself at its end, below).
        curl.setopt(pycurl.PREQUOTE, [b"*MLST " + request.listing])
        curl.setopt(pycurl.IGNORE_CONTENT_LENGTH, 1)
    elif request.probe or request.want_date:
        # The first transfer learns the date (MDTM) in its own session; the
        # size comes from the SIZE that libcurl sends before every RETR.
        curl.setopt(pycurl.OPT_FILETIME, 1)
    # Only a start (REST): the transfer stops itself at its range's end from
    # the write callback. Given an end, libcurl would send ABOR there and wait
    # for the reply blocking the event loop (a round trip or more per range);
    # a write callback that stops the transfer makes libcurl drop the session
    # at once instead, which an ABOR'd session would be anyway.
    if request.start:
        curl.setopt(pycurl.RESUME_FROM_LARGE, request.start)


def _configure_sftp(curl: Any, request: RangeRequest, options: DownloadOptions) -> None:
    # libcurl reads a range by seeking and stops at its end by itself; the
    # size and date come from its stat, asked for with FILETIME. Every range
    # has its end: one cut short costs its session and what libssh2 read
    # ahead (measured: a resume read 26 MB of a 16 MB file with an open-ended
    # first range), so the first request is a stat (date_only) and the
    # ranges follow on its session.
    _configure_ssh(curl, request.url, options)
    curl.setopt(pycurl.OPT_FILETIME, 1)
    if request.date_only:
        curl.setopt(pycurl.NOBODY, 1)  # the stat alone; its session stays for a range
    elif request.end is not None:
        curl.setopt(pycurl.RANGE, request.byte_range)
    elif request.start:
        curl.setopt(pycurl.RESUME_FROM_LARGE, request.start)


def _configure_ssh(curl: Any, url: str, options: DownloadOptions) -> None:
    """Host key checked against known_hosts (libcurl accepts any key when no
    file is set), the key to log in with, and a user name as ssh takes it."""
    set_ = curl.setopt
    known = options.ssh_known_hosts or os.path.expanduser("~/.ssh/known_hosts")
    set_(pycurl.SSH_KNOWNHOSTS, known)
    if options.ssh_key:
        set_(pycurl.SSH_PRIVATE_KEYFILE, options.ssh_key)
        public = options.ssh_key + ".pub"
        set_(pycurl.SSH_PUBLIC_KEYFILE, public if os.path.isfile(public) else "")
    if options.auth is None and not urlsplit(url).username:
        try:
            set_(pycurl.USERNAME, getpass.getuser())
        except (KeyError, OSError):  # no name for this uid: libcurl's own default
            pass


def configure_listing(
    curl: Any,
    url: str,
    options: DownloadOptions,
    command: str,
    on_write: Callable[[memoryview], int | None],
    on_header: Callable[[bytes], None],
    *,
    secrets: bool = True,
) -> None:
    """A directory listing of ``url`` (ending in ``/``): FTP ``MLSD``,
    ``LIST`` or ``NLST`` (libcurl's DIRLISTONLY), or the GET of an HTTP index page
    (one request: its caller follows redirects, ``secrets`` saying whether
    ``url`` is the origin of the user's headers and login).
    ``LOGIN:<method>``: FTP, no listing; a session logged in (and at the
    directory, as file method ``<method>`` will want it) left in libcurl's cache."""
    set_ = curl.setopt
    set_(pycurl.URL, url)
    set_(pycurl.NOSIGNAL, 1)
    _configure_common(curl, options, on_write, on_header, secrets=secrets)
    if url.startswith("sftp:"):
        _configure_ssh(curl, url, options)  # a URL ending in "/": ls -l lines
        return
    if command == "GET":
        set_(pycurl.HTTPHEADER, list(options.headers) if secrets else [])
        return
    set_(pycurl.FTP_USE_EPSV, 1)
    if options.ftp_tls:
        set_(pycurl.USE_SSL, pycurl.USESSL_ALL)
    if command.startswith("LOGIN:"):
        set_(pycurl.FTP_FILEMETHOD, _FILE_METHODS[command.partition(":")[2]])
        set_(pycurl.NOBODY, 1)  # a URL ending in "/": login and CWD, then nothing
        return
    # MLSD names the directory (RFC 3659 says its names are the entries'
    # own), which saves the round trip of a CWD; NLST answers in the form
    # of its argument, so the others CWD to the directory first.
    method = pycurl.FTPMETHOD_NOCWD if command == "MLSD" else pycurl.FTPMETHOD_SINGLECWD
    set_(pycurl.FTP_FILEMETHOD, method)
    if command == "NLST":
        set_(pycurl.DIRLISTONLY, 1)
    elif command != "LIST":  # LIST: libcurl's own for a URL ending in /
        set_(pycurl.CUSTOMREQUEST, command)


def watch_sockets(
    curl: Any, opensocket: Callable[..., Any], sockopt: Callable[[int, int], int]
) -> None:
    """libcurl creates this handle's sockets through us (sockets.py)."""
    curl.setopt(pycurl.OPENSOCKETFUNCTION, opensocket)
    curl.setopt(pycurl.SOCKOPTFUNCTION, sockopt)


def configure_multi(
    setopt: Callable[[int, Any], None], max_connections: int, max_host: int
) -> None:
    """The scheduler keeps running transfers per host below ``max_host``;
    libcurl's caps make the open connections, idle cached ones included,
    stay below it too (it closes the oldest idle one to make room). No
    HTTP/2 multiplexing: it would put every range of a file on one TCP
    connection, and the ranges are there to use many."""
    setopt(pycurl.M_MAX_HOST_CONNECTIONS, max_host)
    setopt(pycurl.M_MAX_TOTAL_CONNECTIONS, max_connections)
    setopt(pycurl.M_MAXCONNECTS, max_connections)
    setopt(pycurl.M_PIPELINING, pycurl.PIPE_NOTHING)
