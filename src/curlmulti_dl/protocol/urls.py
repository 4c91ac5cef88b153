"""URLs: what a user typed made into the ASCII URI libcurl needs, and the
origin (scheme, host, port) a connection budget and a secret belong to.
Pure: no I/O.

``normalize_url`` turns an IRI with non-ASCII letters, a host in any
script, into that URI, or raises ``InvalidURLError``; ``parse_origin``
checks that a URL is one we can download and gives its origin.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, urlsplit, urlunsplit

from .._exceptions import InvalidURLError

__all__ = ["DEFAULT_PORTS", "SUPPORTED_SCHEMES", "Origin", "normalize_url", "parse_origin"]

SUPPORTED_SCHEMES = ("http", "https", "ftp", "ftps", "sftp", "s3")
DEFAULT_PORTS = {"http": 80, "https": 443, "ftp": 21, "ftps": 990, "sftp": 22, "s3": 443}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# RFC 3986 characters that may stand in each component as they are; anything
# else (non-ASCII, spaces, quotes) is percent-encoded as UTF-8. "%" stays so
# that escapes the user already wrote are kept, not encoded twice.
_SAFE_PATH = "/%!$&'()*+,;=:@-._~"
_SAFE_QUERY = _SAFE_PATH + "?"
_SAFE_USERINFO = "%!$&'()*+,;=-._~:"


@dataclass(frozen=True)
class Origin:
    """Scheme, host and port of a URL: the unit of a connection budget."""

    scheme: str
    host: str
    port: int

    @property
    def is_ftp(self) -> bool:
        return self.scheme in ("ftp", "ftps")

    @property
    def is_sftp(self) -> bool:
        return self.scheme == "sftp"

    @property
    def host_key(self) -> str:
        """Budgets are per host and port, whatever the scheme."""
        return f"{self.host}:{self.port}"


def normalize_url(url: str) -> str:
    """The ASCII URI for ``url``: non-ASCII path, query and user parts are
    percent-encoded as UTF-8 and the host is IDNA-encoded.

    Raises ``InvalidURLError`` for what cannot be a URL (control characters,
    a malformed port, no host, a scheme we do not speak).

    >>> normalize_url("https://bücher.example/café.bin?q=é")
    'https://xn--bcher-kva.example/caf%C3%A9.bin?q=%C3%A9'
    """
    if not isinstance(url, str) or not url.strip():
        raise InvalidURLError("empty URL", url=str(url))
    url = url.strip()
    if _CONTROL.search(url):
        raise InvalidURLError("URL contains control characters", url=_printable(url))
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidURLError(f"malformed URL ({exc})", url=url) from None
    scheme = parts.scheme.lower()
    _check_scheme(scheme, url)
    host = parts.hostname
    if not host:
        raise InvalidURLError("URL has no host", url=url)
    if any(ch.isspace() for ch in parts.netloc):
        raise InvalidURLError("URL host contains white space", url=url)
    ascii_host = _ascii_host(host, url)
    netloc = f"[{ascii_host}]" if ":" in ascii_host else ascii_host
    if port is not None:
        netloc = f"{netloc}:{port}"
    if parts.username is not None or parts.password is not None:
        userinfo = quote(parts.username or "", safe=_SAFE_USERINFO)
        if parts.password is not None:
            userinfo += ":" + quote(parts.password, safe=_SAFE_USERINFO)
        netloc = f"{userinfo}@{netloc}"
    path = quote(parts.path, safe=_SAFE_PATH, errors="surrogateescape")  # raw bytes stay
    query = quote(parts.query, safe=_SAFE_QUERY, errors="surrogateescape")
    # The fragment never leaves this machine: drop it, as browsers do.
    return urlunsplit((scheme, netloc, path, query, ""))


def _check_scheme(scheme: str, url: str) -> None:
    if not scheme:
        raise InvalidURLError(
            "URL has no scheme (expected http://, https://, ftp://, ftps://, sftp:// or s3://)",
            url=url,
        )
    if scheme not in SUPPORTED_SCHEMES:
        raise InvalidURLError(
            f"unsupported scheme {scheme!r} (supported: {', '.join(SUPPORTED_SCHEMES)})", url=url
        )


def _ascii_host(host: str, url: str) -> str:
    if host.isascii():
        return host.lower()
    try:
        return host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise InvalidURLError(f"host {host!r} is not a valid domain name", url=url) from None


def _printable(text: str) -> str:
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def parse_origin(url: str, *, directory: bool = False, normalized: bool = False) -> Origin:
    """Check that ``url`` is one we can download (``directory``: list) and
    return its origin. ``normalized``: ``url`` comes from ``normalize_url``
    (which is not done twice).

    >>> parse_origin("https://example.org/a.nc").host_key
    'example.org:443'
    """
    if not normalized:
        url = normalize_url(url)
    parts = urlsplit(url)
    scheme = parts.scheme
    names_directory = parts.path.endswith("/") or parts.path in ("", "/")
    if scheme in ("ftp", "ftps", "sftp") and names_directory and not directory:
        kind = "an SFTP" if scheme == "sftp" else "an FTP"
        raise InvalidURLError(
            f"{kind} directory cannot be downloaded as a file (name a file in it)", url=url
        )
    assert parts.hostname is not None  # normalize_url checked it
    return Origin(scheme, parts.hostname, parts.port or DEFAULT_PORTS[scheme])
