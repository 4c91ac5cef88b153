"""Property and example tests of header parsing."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from curlmulti_dl._headers import ContentRange, ResponseHead, parse_content_range, parse_status_line


@given(st.integers(0, 1 << 50), st.integers(0, 1 << 50), st.integers(1, 1 << 50))
def test_content_range_roundtrip(first: int, length: int, extra: int) -> None:
    last = first + length
    total = last + extra
    assert parse_content_range(f"bytes {first}-{last}/{total}") == ContentRange(first, last, total)
    assert parse_content_range(f"bytes {first}-{last}/*") == ContentRange(first, last, None)


@given(st.text(max_size=40))
def test_content_range_never_raises(value: str) -> None:
    parsed = parse_content_range(value)
    if parsed is not None and parsed.first is not None:
        assert parsed.last is not None and parsed.first <= parsed.last
        assert parsed.total is None or parsed.last < parsed.total


def test_content_range_rejects_nonsense() -> None:
    assert parse_content_range("bytes 10-5/100") is None
    assert parse_content_range("bytes 0-100/100") is None
    assert parse_content_range("items 0-1/2") is None
    assert parse_content_range("bytes */0") == ContentRange(None, None, 0)


def test_status_line() -> None:
    assert parse_status_line(b"HTTP/1.1 206 Partial Content\r\n") == 206
    assert parse_status_line(b"HTTP/2 200\r\n") == 200
    assert parse_status_line(b"Content-Length: 5\r\n") is None


def test_response_head_keeps_last_response_and_follows_location() -> None:
    head = ResponseHead("http://a.example/x/file?sig=1")
    for line in [
        b"HTTP/1.1 302 Found\r\n",
        b"Location: /mirror/file\r\n",
        b'ETag: "stale"\r\n',
        b"\r\n",
        b"HTTP/1.1 301 Moved\r\n",
        b"Location: https://b.example/data/file\r\n",
        b"\r\n",
        b"HTTP/1.1 206 Partial Content\r\n",
        b"Content-Range: bytes 0-99/1000\r\n",
        b'ETag: "v1"\r\n',
        b"Content-Length: 100\r\n",
        b"\r\n",
    ]:
        head.feed(line)
    assert head.status == 206
    assert head.url == "https://b.example/data/file"
    assert head.etag == '"v1"'
    assert head.content_range == ContentRange(0, 99, 1000)
    assert head.content_length == 100
    assert head.complete
