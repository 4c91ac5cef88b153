"""Frozen option objects: what one download may do, validated once."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ._policy import RetryPolicy
from ._version import __version__
from .protocol.ftpdialect import FILE_METHODS
from .protocol.integrity import Checksum

__all__ = ["DownloadOptions", "KiB", "MiB", "milliseconds"]

KiB = 1024
MiB = 1024 * KiB


@dataclass(frozen=True)
class DownloadOptions:
    """Options of one download. Every field has a serious default.

    parts: connections (byte ranges) for one file.
    min_part_size: an HTTP file is split only into parts of at least this size;
        smaller files finish in the first request.
    ftp_min_part_size: the same for FTP, larger because every FTP part costs a
        fresh login (libcurl closes the control connection after ABOR).
    min_split_size: rebalancing leaves both halves at least this large.
    verify_tls: check certificates and host names (HTTPS, FTPS).
    cacert: a PEM bundle of trusted CAs instead of the system's.
    ftp_tls: require TLS (AUTH TLS, explicit FTPS) on ftp:// URLs; ftps://
        URLs always use implicit TLS.
    ftp_file_method: how to reach a file's directory: "auto" (the default:
        the path goes with RETR, no CWD, and one CWD on servers that answer
        such a request "not found"), "nocwd", "singlecwd" (one CWD to the
        whole path) or "multicwd" (one CWD per level, for servers that
        refuse the others).
    connect_timeout: seconds to connect (and log in, for FTP).
    stall_timeout: a connection slower than ``stall_bytes_per_second`` for this
        many seconds is a timeout.
    multiplex: allow HTTP/2 multiplexing. Off by default: it would put every
        range on one TCP connection, which defeats splitting.
    buffer_size: libcurl's receive buffer (CURLOPT_BUFFERSIZE).
    write_buffer_size: each range collects chunks in a buffer of this size
        before one ``pwrite``.
    fsync: fsync the file before renaming it to the final name, and the
        directory after.
    overwrite: replace an existing regular file at the destination (keeping
        its mode, owner and hard links); without it such a file is an error.
    reuse_connections: keep a connection whose transfer ended cleanly for the
        next transfer to the same server (no new handshake or FTP login), and
        take such a kept connection when there is one. False: a new
        connection for every transfer, closed at its end.
    preconnect: while a file's first request is out, open the connections
        its other ranges will need, so that they start one round trip sooner
        (HTTP, a file alone on its host; nothing is sent on a connection
        before a range takes it, and unused ones are closed).
    retry: how a failed range is fetched again, from the byte where it
        stopped (``RetryPolicy``; ``RetryPolicy(attempts=0)`` fails at once).
    checksum: the file's expected digest, ``"sha256:HEX"`` (md5, sha1 and
        sha512 too), checked after the last byte; a digest the server sends
        (``Repr-Digest``, RFC 9530) is checked too.
    resume: keep ``NAME.part`` and a journal of what is on disk when a
        download stops, and go on from there when the same URL is fetched to
        the same place again (if the remote file is still the same). False:
        start from nothing, and keep nothing.
    max_time: seconds a download may take in all (None: no limit; long
        downloads are normal, ``stall_timeout`` catches a dead connection).
    user_agent: the User-Agent header.
    """

    parts: int = 8
    min_part_size: int = 1 * MiB
    ftp_min_part_size: int = 8 * MiB
    min_split_size: int = 256 * KiB
    verify_tls: bool = True
    cacert: str | None = None
    ftp_tls: bool = False
    ftp_file_method: str = "auto"
    connect_timeout: float = 30.0
    stall_timeout: float = 60.0
    stall_bytes_per_second: int = 1
    multiplex: bool = False
    buffer_size: int = 512 * KiB
    write_buffer_size: int = 1 * MiB
    fsync: bool = False
    overwrite: bool = False
    reuse_connections: bool = True
    preconnect: bool = True
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    checksum: str | None = None
    resume: bool = True
    max_time: float | None = None
    user_agent: str = f"curlmulti_dl/{__version__}"

    def __post_init__(self) -> None:
        if not isinstance(self.parts, int) or self.parts < 1:
            raise ValueError(f"parts must be an integer >= 1, not {self.parts!r}")
        for name in ("min_part_size", "ftp_min_part_size", "min_split_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        if self.checksum is not None:
            Checksum.parse(self.checksum)  # ValueError with the reason
        if not isinstance(self.retry, RetryPolicy):
            raise ValueError(f"retry must be a RetryPolicy, not {self.retry!r}")
        if self.ftp_file_method not in FILE_METHODS:
            raise ValueError(f"ftp_file_method must be one of {', '.join(FILE_METHODS)}")
        if not 1024 <= self.buffer_size <= 10 * MiB:
            raise ValueError("buffer_size must be between 1 KiB and 10 MiB")
        if self.write_buffer_size < 16 * KiB:
            raise ValueError("write_buffer_size must be at least 16 KiB")
        if self.max_time is not None and not (
            isinstance(self.max_time, (int, float))
            and math.isfinite(self.max_time)
            and self.max_time > 0
        ):
            raise ValueError(
                f"max_time must be a positive number of seconds, not {self.max_time!r}"
            )
        for name in ("connect_timeout", "stall_timeout"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"{name} must be a positive number of seconds, not {value!r}")


def milliseconds(seconds: float) -> int:
    """Seconds as whole milliseconds for libcurl, never 0 (which means "default")."""
    return max(1, math.ceil(seconds * 1000))
