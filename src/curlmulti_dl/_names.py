"""URL checks and destination names. Pure except for one ``is_dir`` look-up."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from ._exceptions import InvalidURLError, StorageError

__all__ = [
    "SUPPORTED_SCHEMES",
    "Origin",
    "filename_from_url",
    "parse_origin",
    "resolve_destination",
]

SUPPORTED_SCHEMES = ("http", "https", "ftp", "ftps")
_DEFAULT_PORTS = {"http": 80, "https": 443, "ftp": 21, "ftps": 990}
_UNSAFE_CHARS = re.compile(r"[\x00-\x1f\x7f/\\]")
_MAX_NAME_BYTES = 255


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
    def host_key(self) -> str:
        """Budgets are per host and port, whatever the scheme."""
        return f"{self.host}:{self.port}"


def parse_origin(url: str) -> Origin:
    """Check that ``url`` is one we can download and return its origin.

    >>> parse_origin("https://example.org/a.nc").host_key
    'example.org:443'
    """
    if not isinstance(url, str) or not url.strip():
        raise InvalidURLError("empty URL", url=str(url))
    if any(ch.isspace() for ch in url):
        raise InvalidURLError("URL contains white space", url=url)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidURLError(f"malformed URL ({exc})", url=url) from None
    scheme = parts.scheme.lower()
    if not scheme:
        raise InvalidURLError(
            "URL has no scheme (expected http://, https://, ftp:// or ftps://)", url=url
        )
    if scheme not in SUPPORTED_SCHEMES:
        raise InvalidURLError(
            f"unsupported scheme {scheme!r} (supported: {', '.join(SUPPORTED_SCHEMES)})", url=url
        )
    if not parts.hostname:
        raise InvalidURLError("URL has no host", url=url)
    return Origin(scheme, parts.hostname.lower(), port or _DEFAULT_PORTS[scheme])


def filename_from_url(url: str) -> str:
    """A safe file name from the URL's last path segment.

    Percent-escapes are decoded, separators and control characters replaced,
    so the name can never reach outside the destination directory.

    >>> filename_from_url("https://h/data/HS_H09_B13.nc?sig=1")
    'HS_H09_B13.nc'
    >>> filename_from_url("http://h/a/..%2F..%2Fetc%2Fpasswd")
    '.._.._etc_passwd'
    """
    path = urlsplit(url).path
    segment = unquote(path.rsplit("/", 1)[-1])
    name = _UNSAFE_CHARS.sub("_", segment).strip()
    if name in ("", ".", ".."):
        name = "index.html" if path.endswith("/") or not path else "download"
    encoded = name.encode("utf-8", "surrogatepass")
    if len(encoded) > _MAX_NAME_BYTES:
        name = encoded[:_MAX_NAME_BYTES].decode("utf-8", "ignore")
    return name


def resolve_destination(url: str, dest: str | os.PathLike[str] | None) -> Path:
    """The final path for ``url``: ``dest`` itself, or a name from the URL
    inside ``dest`` when it is an existing directory (the working directory
    when ``dest`` is None)."""
    if dest is None:
        return Path.cwd() / filename_from_url(url)
    path = Path(dest)
    if path.is_dir():
        return path / filename_from_url(url)
    if str(dest).endswith(os.sep):
        raise StorageError(f"destination directory {path} does not exist", url=url)
    if not path.parent.is_dir():
        raise StorageError(f"directory {path.parent} does not exist", url=url)
    return path
