"""Frozen option objects: what one download may do, validated once."""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypedDict

from ._policy import RetryPolicy
from ._redact import redact_url
from ._version import __version__
from .protocol.ftpdialect import FILE_METHODS
from .protocol.integrity import Checksum

__all__ = ["Credentials", "DownloadOptions", "FileOptions", "KiB", "MiB", "milliseconds"]

KiB = 1024
MiB = 1024 * KiB


# Headers the engine itself sets per range: a user's own would break ranges.
_OWN_HEADERS = frozenset({"range", "if-range", "accept-encoding", "content-length"})
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


@dataclass(frozen=True)
class Credentials:
    """A login (HTTP Basic, FTP USER/PASS, SFTP). The password is
    never shown: ``repr`` and ``str`` print ``***``.

    >>> Credentials("anna", "s3cret")
    Credentials(user='anna', password='***')
    """

    user: str
    password: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        for part in (self.user, self.password):
            if not isinstance(part, str) or any(c in part for c in "\r\n\0"):
                raise ValueError("a user name and password are strings without line breaks")

    def __repr__(self) -> str:
        return f"Credentials(user={self.user!r}, password='***')"

    __str__ = __repr__


def header_lines(headers: Mapping[str, str] | Sequence[str] | None) -> tuple[str, ...]:
    """``headers`` as checked ``Name: value`` lines (a mapping or lines).

    >>> header_lines({"X-Token": "abc"})
    ('X-Token: abc',)
    """
    if headers is None:
        return ()
    if isinstance(headers, str):
        raise ValueError("headers are a mapping or a list of 'Name: value' lines, not a string")
    pairs: list[tuple[str, str]] = []
    if isinstance(headers, Mapping):
        pairs = [(str(k), str(v)) for k, v in headers.items()]
    else:
        for line in headers:
            name, colon, value = str(line).partition(":")
            if not colon:
                raise ValueError(f"a header is 'Name: value', not {name[:40]!r}")
            pairs.append((name.strip(), value.strip()))
    lines = []
    for name, value in pairs:
        if not _HEADER_NAME.fullmatch(name):
            raise ValueError(f"not a header name: {name[:40]!r}")
        if name.lower() in _OWN_HEADERS:
            raise ValueError(f"the {name} header is set per range by the downloader")
        if any(c in value for c in "\r\n\0"):
            raise ValueError(f"the value of header {name} has a line break")
        lines.append(f"{name}: {value}")
    return tuple(lines)


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
    headers: more request headers (HTTP), a mapping or ``"Name: value"``
        lines; ``Range`` and the others set per range are refused. Their
        values are never shown (``repr`` names them only).
    auth: a login, ``Credentials(user, password)`` or a ``(user, password)``
        pair: HTTP Basic, FTP USER/PASS, SFTP password. A login in the URL
        (``ftp://user:pw@host/``) works too, but shows in process lists.
    netrc: take the login for a host from a netrc file: True for
        ``~/.netrc``, or the file's path; ``auth`` and a login in the URL
        come first.
    proxy: the proxy for every request: ``http://``, ``https://``,
        ``socks5://`` or ``socks5h://`` (names resolved by the proxy), with
        a login if it wants one. None (the default): libcurl's environment
        variables (``http_proxy``, ``HTTPS_PROXY``, ``ALL_PROXY``,
        ``NO_PROXY``); ``""``: no proxy, whatever the environment says.
    noproxy: hosts reached directly, comma-separated (``"*"``: all).
    max_redirects: redirects the first request of a file may follow (its
        other ranges go to where they led). Headers, ``auth`` and S3 tokens
        go only to the origin (scheme, host, port) of the URL they were given
        with, never to another one a redirect leads to.
    allow_insecure_redirects: follow a redirect from https to http; refused
        by default (``InsecureRedirectError``).
    s3_endpoint: ``s3://`` URLs go to this store (MinIO, Ceph, a local test
        server: ``http://127.0.0.1:9000``), the bucket as the path's first
        part; None: AWS (``https://BUCKET.s3.amazonaws.com``).
    s3_anonymous: never sign ``s3://`` requests, even with credentials in
        the environment (public buckets, as ``--no-sign-request``). Else they
        are signed when ``AWS_ACCESS_KEY_ID`` and ``AWS_SECRET_ACCESS_KEY``
        are set (``AWS_SESSION_TOKEN``, ``AWS_REGION`` too), anonymous if not.
    aws_sigv4: sign every request with AWS Signature Version 4 (libcurl's
        provider string, ``"aws:amz:us-east-1:s3"``), the key and secret
        taken from ``auth``. Set for ``s3://`` URLs from the environment.
    ssh_known_hosts: SFTP: the known_hosts file that must hold the server's
        key (None: ``~/.ssh/known_hosts``). A key missing from it or
        different is a ``HostKeyError``, never accepted.
    ssh_key: SFTP: a private key file (its ``.pub`` beside it, or derived
        from it). None: libcurl's defaults (the SSH agent, ``~/.ssh/id_rsa``),
        then ``auth``'s password. The user is the URL's, ``auth``'s, or the
        local user's name, as ``ssh`` does.
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
    headers: tuple[str, ...] = field(default=(), repr=False)
    auth: Credentials | None = None
    netrc: bool | str = False
    proxy: str | None = field(default=None, repr=False)
    noproxy: str | None = None
    max_redirects: int = 10
    allow_insecure_redirects: bool = False
    s3_endpoint: str | None = None
    s3_anonymous: bool = False
    aws_sigv4: str | None = None
    ssh_known_hosts: str | None = None
    ssh_key: str | None = None

    def with_changes(self, **changes: object) -> DownloadOptions:
        """These options with ``changes``; ``headers`` are added to the ones
        here (as a client's and a request's headers are), the rest replaced."""
        if not changes:
            return self
        if "headers" in changes:
            changes["headers"] = self.headers + header_lines(changes["headers"])  # type: ignore[arg-type]
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        # Header values and a proxy's login may be secrets: names only.
        shown = [f"{f.name}={getattr(self, f.name)!r}" for f in dataclasses.fields(self) if f.repr]
        if self.headers:
            names = [line.partition(":")[0] for line in self.headers]
            shown.append(f"headers=<{', '.join(names)}>")
        if self.proxy is not None:
            shown.append(f"proxy={redact_url(self.proxy)!r}")
        return f"DownloadOptions({', '.join(shown)})"

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # normalizing the frozen fields given loosely
        set_(self, "headers", header_lines(self.headers))
        if isinstance(self.auth, tuple):
            set_(self, "auth", Credentials(*self.auth))
        elif self.auth is not None and not isinstance(self.auth, Credentials):
            raise ValueError("auth is Credentials(user, password) or a (user, password) pair")
        if not isinstance(self.max_redirects, int) or self.max_redirects < 0:
            raise ValueError(f"max_redirects must be an integer >= 0, not {self.max_redirects!r}")
        if any(c in (self.user_agent or "") for c in "\r\n\0"):
            raise ValueError("the user agent has a line break")
        if not isinstance(self.parts, int) or self.parts < 1:
            raise ValueError(f"parts must be an integer >= 1, not {self.parts!r}")
        for name in ("min_part_size", "ftp_min_part_size", "min_split_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, not {value!r}")
        if self.checksum is not None:
            Checksum.parse(self.checksum)  # ValueError with the reason
        if not isinstance(self.retry, RetryPolicy):
            raise ValueError(f"retry must be a RetryPolicy, not {self.retry!r}")
        if self.ftp_file_method not in FILE_METHODS:
            raise ValueError(f"ftp_file_method must be one of {', '.join(FILE_METHODS)}")
        if not isinstance(self.buffer_size, int) or not 1024 <= self.buffer_size <= 10 * MiB:
            raise ValueError("buffer_size must be between 1 KiB and 10 MiB")
        if not isinstance(self.write_buffer_size, int) or self.write_buffer_size < 16 * KiB:
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


class FileOptions(TypedDict, total=False):
    """The keywords of one download, as ``fetch``, ``download``,
    ``fetch_many``, ``download_many`` and ``Downloader`` take them: the fields
    of ``DownloadOptions`` (see there for their meaning), typed for your
    type checker. ``headers`` and ``auth`` are taken in their loose forms.

    >>> options: FileOptions = {"parts": 4, "checksum": "sha256:" + "0" * 64}
    """

    parts: int
    min_part_size: int
    ftp_min_part_size: int
    min_split_size: int
    verify_tls: bool
    cacert: str | None
    ftp_tls: bool
    ftp_file_method: str
    connect_timeout: float
    stall_timeout: float
    stall_bytes_per_second: int
    buffer_size: int
    write_buffer_size: int
    fsync: bool
    overwrite: bool
    reuse_connections: bool
    preconnect: bool
    retry: RetryPolicy
    checksum: str | None
    resume: bool
    max_time: float | None
    user_agent: str
    headers: Mapping[str, str] | Sequence[str]
    auth: Credentials | tuple[str, str] | None
    netrc: bool | str
    proxy: str | None
    noproxy: str | None
    max_redirects: int
    allow_insecure_redirects: bool
    s3_endpoint: str | None
    s3_anonymous: bool
    aws_sigv4: str | None
    ssh_known_hosts: str | None
    ssh_key: str | None


def milliseconds(seconds: float) -> int:
    """Seconds as whole milliseconds for libcurl, never 0 (which means "default")."""
    return max(1, math.ceil(seconds * 1000))
