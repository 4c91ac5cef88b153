"""Redirects, followed by us rather than by libcurl, so that secrets stay
with their origin. Pure: no I/O.

libcurl, left to follow a redirect to another host, drops only
``Authorization`` and ``Cookie``; the headers a user gave (``-H``, an S3
session token) would go along. So no request follows redirects inside
libcurl (``FOLLOWLOCATION`` 0): a 3xx answer with a ``Location`` ends the
request, and the next one goes to the resolved target with the secrets that
fit its origin. ``RedirectChain`` is that walk: the target of each hop
(relative to the URL that answered, http and https only, never from https
down to http unless allowed), the count against ``max_redirects``, and
whether the URL reached is still the origin the secrets were given for
(scheme, host and port, as browsers compare them).

Example::

    chain = RedirectChain("https://a.example/f", max_redirects=10)
    chain.follow("https://b.example/f")   # 'https://b.example/f'
    chain.at_origin                       # False: no headers, no login there
    chain.follow("http://b.example/f")    # raises InsecureRedirectError
"""

from __future__ import annotations

from urllib.parse import quote, urljoin, urlsplit

from .._exceptions import InsecureRedirectError, ProtocolError, ServerError
from .._redact import redact_url
from .headers import ResponseHead
from .urls import DEFAULT_PORTS

__all__ = [
    "REDIRECT_STATUSES",
    "RedirectChain",
    "location_of",
    "redirect_target",
    "same_origin",
    "secret_names",
]

#: The answers libcurl would follow: 304 (not modified) and 305/306 are not redirects.
REDIRECT_STATUSES = frozenset({300, 301, 302, 303, 307, 308})
_FOLLOWED = ("http", "https")
# Printable ASCII a URL may hold as it is; the rest (space, non-ASCII) is escaped.
_URL_SAFE = "".join(chr(c) for c in range(0x21, 0x7F))


def location_of(head: ResponseHead) -> str | None:
    """The ``Location`` of a redirect answer; None for any other answer."""
    if head.status not in REDIRECT_STATUSES:
        return None
    return head.headers.get("location") or None


def origin_of(url: str) -> tuple[str, str, int] | None:
    """Scheme, host and port of ``url`` (None if it has no host or port to compare)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if not host:
        return None
    if port is None:
        port = DEFAULT_PORTS.get(scheme)
    return (scheme, host, port) if port is not None else None


def same_origin(url: str, other: str) -> bool:
    """Whether both URLs have one scheme, host and port (logins aside).

    >>> same_origin("https://h/a", "https://H:443/b"), same_origin("https://h/", "http://h/")
    (True, False)
    """
    mine = origin_of(url)
    return mine is not None and mine == origin_of(other)


def redirect_target(current: str, location: str, *, allow_insecure: bool = False) -> str:
    """The URL a ``Location`` answered by ``current`` points to. Raises
    ``ProtocolError`` for a target that is no http(s) URL with a host, and
    ``InsecureRedirectError`` for a step from https down to http (unless
    ``allow_insecure``)."""
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in location):
        raise ProtocolError("a redirect to a Location with control characters", url=current)
    try:
        target = quote(urljoin(current, location.strip()), safe=_URL_SAFE)
    except ValueError:
        raise ProtocolError("a redirect to a Location that is no URL", url=current) from None
    scheme = urlsplit(target).scheme.lower()
    if scheme not in _FOLLOWED or origin_of(target) is None:
        shown = f"{scheme}://" if scheme else "a URL without a scheme"
        raise ProtocolError(
            f"a redirect to {shown} (only http:// and https:// with a host are followed)",
            url=current,
        )
    if scheme == "http" and urlsplit(current).scheme.lower() == "https" and not allow_insecure:
        raise InsecureRedirectError(
            "refused a redirect from https to http (allow_insecure_redirects=True or "
            "--allow-insecure-redirect follows it)",
            url=current,
        )
    return target


class RedirectChain:
    """The first request's way from ``url`` (the origin of its secrets) to
    the file: ``url`` is where the next request goes, ``hops`` how many
    redirects led there."""

    def __init__(self, url: str, max_redirects: int, *, allow_insecure: bool = False) -> None:
        self.origin_url = url
        self.url = url
        self.hops = 0
        self.max_redirects = max_redirects
        self.allow_insecure = allow_insecure
        self.left_origin = False  # the last hop went from the origin to another

    @property
    def at_origin(self) -> bool:
        """Whether the next request goes to the origin (with the secrets)."""
        return self.url == self.origin_url or same_origin(self.url, self.origin_url)

    def follow(self, location: str) -> str:
        """Take one redirect; the new URL. Raises ``ServerError`` past
        ``max_redirects`` and what ``redirect_target`` raises."""
        if self.hops >= self.max_redirects:
            raise ServerError(
                f"more than {self.max_redirects} redirects (max_redirects, --max-redirs)",
                url=self.origin_url,
            )
        was_home = self.at_origin
        self.url = redirect_target(self.url, location, allow_insecure=self.allow_insecure)
        self.hops += 1
        self.left_origin = was_home and not self.at_origin
        return self.url

    def left_behind(self, headers: tuple[str, ...], has_login: bool) -> str | None:
        """A debug line for the hop that just left the origin: which secrets
        stay home (names, never values); None for any other hop."""
        dropped = secret_names(headers, has_login) if self.left_origin else []
        if not dropped:
            return None
        return (
            f"{redact_url(self.origin_url)}: redirected to another origin, "
            f"{redact_url(self.url)}: not sending {', '.join(dropped)} there"
        )


def secret_names(headers: tuple[str, ...], has_login: bool) -> list[str]:
    """What a request away from the origin goes without: the header names
    (never their values), and the login.

    >>> secret_names(("X-Token: s3cret",), True)
    ['X-Token', 'the login']
    """
    names = [line.partition(":")[0] for line in headers]
    return names + (["the login"] if has_login else [])
