"""``s3://`` for the Downloader: an object as an HTTPS GET (signed from the
environment, or anonymous), a prefix as ListObjectsV2 pages."""

from __future__ import annotations

import os
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

from .._config import Credentials, DownloadOptions
from .._exceptions import DownloadError, ListingLimitError, ProtocolError
from ..protocol.listing import Entry
from ..protocol.s3 import (
    is_s3,
    list_url,
    object_url,
    parse_list_objects,
    signing_from_environment,
    split_s3,
)

__all__ = ["PAGE_LIMIT", "list_s3", "s3_request"]

#: A ListObjectsV2 page holds at most 1,000 keys of at most 1 KiB: a page
#: larger than this is no page (and is parsed whole, as a tree).
PAGE_LIMIT = 8 * 1024 * 1024
MAX_PAGES = 10_000  # 10 million keys below one prefix: past that, a loop


def s3_request(url: str, options: DownloadOptions) -> tuple[str, DownloadOptions]:
    """``url`` as the store's HTTPS URL, and ``options`` signing it when the
    environment has credentials (and ``s3_anonymous`` is off). Other URLs
    pass as they are."""
    if not is_s3(url):
        return url, options
    try:
        https = object_url(url, options.s3_endpoint)
    except ValueError as exc:
        raise DownloadError(str(exc), url=url) from None
    signing = None if options.s3_anonymous else signing_from_environment(os.environ)
    if signing is None or options.aws_sigv4 is not None:
        return https, options
    changes: dict[str, Any] = {
        "aws_sigv4": signing.provider,
        "auth": Credentials(signing.access_key, signing.secret_key),
    }
    if signing.session_token:
        changes["headers"] = (f"x-amz-security-token: {signing.session_token}",)
    return https, options.with_changes(**changes)


async def list_s3(
    prefix_url: str, options: DownloadOptions, fetch_page: Callable[[str], Awaitable[bytes]]
) -> AsyncGenerator[list[Entry], None]:
    """The keys and common prefixes just below ``s3://BUCKET/PREFIX/``, a
    page at a time, each page asked for (``fetch_page``) only once the one
    before was taken. Their sizes and dates plan the batch: no probe. A key
    the page before gave, or this page gave already, is a repeat and dropped;
    order is not relied on (S3 Express and some other stores list unsorted),
    and what is kept to tell repeats is two pages' names at most."""
    try:
        bucket, prefix = split_s3(prefix_url)
    except ValueError as exc:
        raise DownloadError(str(exc), url=prefix_url) from None
    token: str | None = None
    before: set[tuple[str, str]] = set()  # the last page's (kind, name)
    for _ in range(MAX_PAGES):
        body = await fetch_page(list_url(bucket, prefix, options.s3_endpoint, token))
        try:
            found, next_token = parse_list_objects(body, prefix)
        except (ProtocolError, ValueError) as exc:
            message = exc.message if isinstance(exc, ProtocolError) else str(exc)
            raise ProtocolError(message, url=prefix_url) from None
        page, names = [], set()
        for entry in found:
            key = (entry.kind, entry.name)
            if key not in before and key not in names:
                names.add(key)
                page.append(entry)
        before = names
        yield page
        if next_token is None:
            return
        if next_token == token:
            raise ProtocolError("the store gave the same continuation token twice", url=prefix_url)
        token = next_token
    raise ListingLimitError(
        f"more than {MAX_PAGES} pages of keys below this prefix", url=prefix_url
    )
