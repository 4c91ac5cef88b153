"""Hiding passwords in URLs wherever they are shown or stored. Pure."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

__all__ = ["redact_url", "url_secrets"]


def redact_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (user names stay).

    >>> redact_url("ftp://anna:s3cret@ftp.example.org/pub/a.nc")
    'ftp://anna:***@ftp.example.org/pub/a.nc'
    """
    if not isinstance(url, str) or "@" not in url:
        return url if isinstance(url, str) else str(url)
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    authority_end = len(rest)
    for stop in "/?#":
        index = rest.find(stop)
        if index != -1:
            authority_end = min(authority_end, index)
    authority = rest[:authority_end]
    userinfo, at, hostport = authority.rpartition("@")
    if not at or ":" not in userinfo:
        return url
    user = userinfo.split(":", 1)[0]
    return f"{scheme}://{user}:***@{hostport}{rest[authority_end:]}"


def url_secrets(url: str) -> list[str]:
    """The password of ``url`` as written and decoded (to scrub from messages)."""
    try:
        password = urlsplit(url).password
    except ValueError:
        return []
    if not password:
        return []
    return sorted({password, unquote(password)}, key=len, reverse=True)
