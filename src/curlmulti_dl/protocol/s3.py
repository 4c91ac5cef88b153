"""``s3://BUCKET/KEY`` as HTTPS requests: the object's URL, ListObjectsV2
pages for prefixes and globs, and the signing AWS's environment variables
ask for. Pure: strings in, strings out (libcurl signs, by ``AWS_SIGV4``).

Example::

    >>> object_url("s3://noaa-himawari9/AHI-L1b-FLDK/a.DAT")
    'https://noaa-himawari9.s3.amazonaws.com/AHI-L1b-FLDK/a.DAT'
    >>> object_url("s3://bucket/dir/a b", "http://127.0.0.1:9000")
    'http://127.0.0.1:9000/bucket/dir/a%20b'
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote, unquote, unquote_plus, urlencode

from .._exceptions import ProtocolError
from .listing import Entry
from .readable import ftp_time, shown, size_of

__all__ = [
    "S3Signing",
    "is_s3",
    "list_url",
    "object_url",
    "parse_list_objects",
    "signing_from_environment",
    "split_s3",
]

_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


def is_s3(url: str) -> bool:
    return url[:5].lower() == "s3://"


def split_s3(url: str) -> tuple[str, str]:
    """(bucket, key) of ``s3://BUCKET/KEY`` (the key as written, decoded).

    >>> split_s3("s3://b/x/y.nc")
    ('b', 'x/y.nc')
    """
    rest = url[5:]
    bucket, _, key = rest.partition("/")
    if not bucket or any(c in bucket for c in "?#@:") or bucket != bucket.strip():
        raise ValueError(f"not an s3://BUCKET/KEY URL: {url[:80]!r}")
    return bucket, unquote(key)


def _base(bucket: str, endpoint: str | None) -> str:
    # AWS: the bucket as a host name (any region answers there); another
    # store (MinIO, Ceph, a test server): the bucket as the path's first part.
    if endpoint is None:
        return f"https://{bucket}.s3.amazonaws.com"
    return f"{endpoint.rstrip('/')}/{quote(bucket, safe='')}"


def object_url(url: str, endpoint: str | None = None) -> str:
    """The HTTPS URL of object ``s3://BUCKET/KEY``."""
    bucket, key = split_s3(url)
    return f"{_base(bucket, endpoint)}/{quote(key, safe='/~')}"


def list_url(
    bucket: str, prefix: str, endpoint: str | None = None, token: str | None = None
) -> str:
    """One ListObjectsV2 page of the keys just below ``prefix`` (a "directory")."""
    # encoding-type=url: keys come percent-encoded, so that any key (control
    # characters included, which XML 1.0 cannot carry) reads back as it is.
    query = {"list-type": "2", "prefix": prefix, "delimiter": "/", "encoding-type": "url"}
    if token:
        query["continuation-token"] = token
    return f"{_base(bucket, endpoint)}/?{urlencode(query, quote_via=quote)}"


def parse_list_objects(body: bytes, prefix: str) -> tuple[list[Entry], str | None]:
    """The entries of one ListObjectsV2 page (names relative to ``prefix``;
    common prefixes as directories), and the token of the next page (None:
    the last). Raises ``ProtocolError`` for a body that is not such a page."""
    root = _parse(body)
    ns = _NS if root.tag.startswith(_NS) else ""
    if root.tag != f"{ns}ListBucketResult":
        tag = shown(root.tag.removeprefix(ns), 40)
        raise ProtocolError(f"not a ListObjectsV2 answer: the root element is {tag}")
    encoded = (root.findtext(f"{ns}EncodingType") or "").lower() == "url"

    def text(element: ET.Element, tag: str) -> str:
        value = element.findtext(f"{ns}{tag}") or ""
        return unquote_plus(value) if encoded else value  # as botocore reads it

    entries = []
    for item in root.iter(f"{ns}Contents"):
        key = text(item, "Key")
        name = key[len(prefix) :] if key.startswith(prefix) else ""
        if not name or "/" in name:
            continue
        size = item.findtext(f"{ns}Size")
        try:
            size_read = size_of(size) if size else None
        except ProtocolError as exc:
            raise ProtocolError(f"ListObjectsV2 key {shown(key)}: {exc.message}") from None
        entries.append(Entry(name, "file", size_read, _epoch(item.findtext(f"{ns}LastModified"))))
    for common in root.iter(f"{ns}CommonPrefixes"):
        sub = text(common, "Prefix")
        name = sub[len(prefix) :].rstrip("/") if sub.startswith(prefix) else ""
        if name and "/" not in name:
            entries.append(Entry(name, "dir"))
    truncated = (root.findtext(f"{ns}IsTruncated") or "").lower() == "true"
    token = root.findtext(f"{ns}NextContinuationToken") if truncated else None
    return entries, token or None


class _NoDoctype(ET.TreeBuilder):
    def doctype(self, name: str, pubid: str | None, system: str | None) -> None:
        raise _DoctypeRefused


class _DoctypeRefused(Exception):
    pass


def _parse(body: bytes) -> ET.Element:
    """The page's root element. A DOCTYPE is refused where the parser meets
    it, before its internal subset: entity declarations live only there, so
    no entity is ever declared, let alone expanded (billion laughs), and no
    external DTD is named. The parser's own hook sees the document as it
    decodes it, where a byte search of the prolog would miss a UTF-16 one."""
    parser = ET.XMLParser(target=_NoDoctype())
    try:
        parser.feed(body)
        root: ET.Element = parser.close()
    except _DoctypeRefused:
        raise ProtocolError("a ListObjectsV2 answer with a DOCTYPE (DTD) is refused") from None
    except (ET.ParseError, LookupError, ValueError) as exc:
        # LookupError: an encoding the declaration names that Python lacks.
        raise ProtocolError(f"not a ListObjectsV2 answer: {shown(str(exc))}") from None
    return root


_ISO_TIME = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})")


def _epoch(text: str | None) -> int | None:
    """``2026-12-01T00:10:20.000Z`` as epoch seconds (None: not a moment).
    A regular expression, not ``strptime``: a 1,000-key page took 32 ms,
    two thirds of it in ``strptime``."""
    match = _ISO_TIME.match(text or "")
    return ftp_time("".join(match.groups())) if match else None


@dataclass(frozen=True)
class S3Signing:
    """Credentials to sign with (AWS Signature Version 4, by libcurl)."""

    access_key: str
    secret_key: str = ""
    region: str = "us-east-1"
    session_token: str | None = None

    def __repr__(self) -> str:
        return f"S3Signing(access_key={self.access_key!r}, region={self.region!r})"

    @property
    def provider(self) -> str:
        """libcurl's ``AWS_SIGV4`` string."""
        return f"aws:amz:{self.region}:s3"


def signing_from_environment(env: Mapping[str, str]) -> S3Signing | None:
    """Signing from ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
    ``AWS_SESSION_TOKEN`` and ``AWS_REGION`` / ``AWS_DEFAULT_REGION``; None
    (anonymous requests) without a key."""
    key, secret = env.get("AWS_ACCESS_KEY_ID"), env.get("AWS_SECRET_ACCESS_KEY")
    if not key or not secret:
        return None
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"
    return S3Signing(key, secret, region, env.get("AWS_SESSION_TOKEN") or None)
