"""The resume journal: which bytes of ``NAME.part`` are safely on disk, and
which remote file they came from. Pure: bytes in, bytes out; the storage
layer writes it atomically, after the data it describes was synced.

The journal is two lines: a JSON object, then ``sha256 <hex>`` of that line.
Anything else (truncated, zero-filled, edited, another program's or another
version's file, spans outside the file) decodes to None and is never trusted.

Example::

    state = JournalState("https://host/f.nc", 100, '"e1"', None, (ByteRange(0, 40),))
    assert decode(encode(state)) == state
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from ..protocol.probe import ProbeResult
from ..ranges.plan import ByteRange

__all__ = ["FORMAT", "JournalState", "decode", "encode"]

FORMAT = "curlmulti-dl journal 1"
_MAX_BYTES = 1 << 20  # a journal is a few hundred bytes; anything huge is not ours


@dataclass(frozen=True)
class JournalState:
    """``durable``: sorted, disjoint spans of ``[0, size)`` synced to disk.
    ``url`` never holds a password (it is the redacted URL)."""

    url: str
    size: int
    etag: str | None
    last_modified: str | None
    durable: tuple[ByteRange, ...]

    @property
    def done(self) -> int:
        return sum(span.length for span in self.durable)

    def first_missing(self) -> int:
        """The first byte not on disk (``size`` if none is missing)."""
        position = 0
        for span in self.durable:
            if span.start > position:
                break
            position = max(position, span.end)
        return position

    def matches(self, probe: ProbeResult) -> bool:
        """Whether ``probe`` describes the same remote file: the same size, and
        every validator both sides have equal (at least one is required: a
        size alone does not tell two versions of a file apart)."""
        if probe.size != self.size:
            return False
        pairs = [(self.etag, probe.etag), (self.last_modified, probe.last_modified)]
        compared = [(mine, theirs) for mine, theirs in pairs if mine and theirs]
        return bool(compared) and all(mine == theirs for mine, theirs in compared)


def encode(state: JournalState) -> bytes:
    body = json.dumps(
        {
            "format": FORMAT,
            "url": state.url,
            "size": state.size,
            "etag": state.etag,
            "last_modified": state.last_modified,
            "durable": [[span.start, span.end] for span in state.durable],
        },
        separators=(",", ":"),
        ensure_ascii=True,
    ).encode("ascii")
    return body + b"\nsha256 " + hashlib.sha256(body).hexdigest().encode("ascii") + b"\n"


def decode(data: bytes) -> JournalState | None:
    """The state ``data`` holds, or None if it is not an intact journal."""
    if len(data) > _MAX_BYTES:
        return None
    lines = data.split(b"\n")
    if len(lines) != 3 or lines[2] != b"" or not lines[1].startswith(b"sha256 "):
        return None
    body, digest = lines[0], lines[1][len(b"sha256 ") :]
    if hashlib.sha256(body).hexdigest().encode("ascii") != digest:
        return None
    try:
        raw = json.loads(body)
    except ValueError:
        return None
    return _state_from(raw)


def _state_from(raw: object) -> JournalState | None:
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        return None
    url, size = raw.get("url"), raw.get("size")
    etag, modified = raw.get("etag"), raw.get("last_modified")
    spans = raw.get("durable")
    if not isinstance(url, str) or not _is_count(size) or not isinstance(spans, list):
        return None
    if not all(v is None or isinstance(v, str) for v in (etag, modified)):
        return None
    assert isinstance(size, int)
    durable = []
    previous_end = -1
    for span in spans:
        if not (isinstance(span, list) and len(span) == 2 and all(_is_count(v) for v in span)):
            return None
        start, end = span
        if not previous_end < start < end <= size:  # sorted, disjoint, apart, inside
            return None
        durable.append(ByteRange(start, end))
        previous_end = end
    return JournalState(url, size, etag, modified, tuple(durable))


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
