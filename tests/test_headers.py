"""Property and example tests of header parsing."""

from __future__ import annotations

import calendar
import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from curlmulti_dl import ProtocolError
from curlmulti_dl.protocol.ftpdialect import FtpDialect, Support
from curlmulti_dl.protocol.headers import (
    ContentRange,
    FtpReplies,
    ResponseHead,
    parse_content_range,
    parse_status_line,
)
from curlmulti_dl.protocol.request import listing_argument


@given(st.integers(0, 1 << 50), st.integers(0, 1 << 50), st.integers(1, 1 << 50))
def test_content_range_roundtrip(first: int, length: int, extra: int) -> None:
    last = first + length
    total = last + extra
    assert parse_content_range(f"bytes {first}-{last}/{total}") == ContentRange(first, last, total)
    assert parse_content_range(f"bytes {first}-{last}/*") == ContentRange(first, last, None)


@given(st.text(max_size=40))
def test_content_range_is_read_or_refused(value: str) -> None:
    try:
        parsed = parse_content_range(value)
    except ProtocolError:
        return
    if parsed.first is not None:
        assert parsed.last is not None and parsed.first <= parsed.last
        assert parsed.total is None or parsed.last < parsed.total
    assert parsed.total is None or 0 <= parsed.total < 2**63


def test_content_range_refuses_nonsense() -> None:
    for bad in ("bytes 10-5/100", "bytes 0-100/100", "items 0-1/2", "bytes */*", "bytes 0-1"):
        with pytest.raises(ProtocolError):
            parse_content_range(bad)
    assert parse_content_range("bytes */0") == ContentRange(None, None, 0)


def test_status_line() -> None:
    assert parse_status_line(b"HTTP/1.1 206 Partial Content\r\n") == 206
    assert parse_status_line(b"HTTP/2 200\r\n") == 200
    assert parse_status_line(b"Content-Length: 5\r\n") is None


def test_response_head_keeps_the_last_response() -> None:
    # A 1xx answer comes before the real one; no redirect is followed inside
    # a transfer (protocol.redirects does it), so the URL is the one asked.
    head = ResponseHead("http://a.example/x/file?sig=1")
    for line in [
        b"HTTP/1.1 100 Continue\r\n",
        b'ETag: "stale"\r\n',
        b"\r\n",
        b"HTTP/1.1 206 Partial Content\r\n",
        b"Content-Range: bytes 0-99/1000\r\n",
        b'ETag: "v1"\r\n',
        b"Content-Length: 100\r\n",
        b"\r\n",
    ]:
        head.feed(line)
    assert head.status == 206
    assert head.url == "http://a.example/x/file?sig=1"
    assert head.etag == '"v1"'
    assert head.content_range == ContentRange(0, 99, 1000)
    assert head.content_length == 100
    assert head.complete


_facts = st.dictionaries(
    st.sampled_from(["perm", "unique", "unix.mode", "lang", "media-type"]),
    st.text("abcdefxyz0123456789-", min_size=1, max_size=8),
)


@given(
    st.integers(0, 1 << 50),
    st.datetimes(min_value=datetime.datetime(1970, 1, 1), max_value=datetime.datetime(2200, 1, 1)),
    _facts,
    st.text("abc /._-", min_size=1, max_size=20).filter(lambda p: not p.startswith(" ")),
    st.data(),
)
def test_mlst_facts_give_size_and_date_in_any_order(
    size: int, when: datetime.datetime, extra: dict[str, str], path: str, data: st.DataObject
) -> None:
    facts = {"size": str(size), "Modify": when.strftime("%Y%m%d%H%M%S"), "TYPE": "file", **extra}
    order = data.draw(st.permutations(list(facts.items())))
    line = " " + "".join(f"{k}={v};" for k, v in order) + " " + path
    replies = FtpReplies()
    for reply in (b"250-Listing " + path.encode(), line.encode("latin-1"), b"250 End"):
        replies.feed(reply + b"\r\n")
    assert replies.size == size and replies.listed
    assert replies.mtime == calendar.timegm(when.replace(microsecond=0).timetuple())
    assert replies.last_code == 250


def test_mlst_of_a_directory_or_without_size_says_nothing() -> None:
    for line in (b" type=dir;size=4096;modify=20231123000000; d", b" type=file;modify=20231123; f"):
        replies = FtpReplies()
        replies.feed(line + b"\r\n")
        assert replies.size is None and not replies.listed


def test_retr_reply_announcing_size() -> None:
    replies = FtpReplies()
    replies.feed(b"150 Opening BINARY mode data connection for a.dat (123456 bytes).\r\n")
    assert replies.size == 123456 and replies.opened
    sized = FtpReplies()
    sized.feed(b"213 99\r\n")
    sized.feed(b"150 Opening BINARY mode data connection for a.dat (123456 bytes).\r\n")
    assert sized.size == 99  # SIZE's answer is the one asked for
    plain = FtpReplies()
    plain.feed(b"125 Data connection already open. Transfer starting.\r\n")
    assert plain.size is None and plain.opened
    named = FtpReplies()  # the file name may hold "(N bytes)" too: the last one counts
    named.feed(b"150 Opening BINARY mode data connection for a (5 bytes).txt (123456 bytes).\r\n")
    assert named.size == 123456
    after_rest = FtpReplies(take_announced=False)  # what is left after REST, not the size
    after_rest.feed(b"150 Opening BINARY mode data connection for a.dat (100 bytes).\r\n")
    assert after_rest.size is None


def test_mlst_reply_is_told_from_the_others() -> None:
    lines = [b"229 Entering Extended Passive Mode (|||5|)", b"200 Type set to: Binary."]
    refused = FtpReplies()
    for line in [*lines, b'500 Command "MLST" not understood.']:
        refused.feed(line + b"\r\n")
    assert refused.listing_code == 500 and not refused.listed
    banner = FtpReplies()  # a space-led line outside an MLST reply is no facts line
    for line in (b"220-Welcome", b" size=5;type=file; x", b"220 Ready"):
        banner.feed(line + b"\r\n")
    assert banner.size is None
    link = FtpReplies()
    for line in (*lines, b"250-Listing", b" type=OS.unix=slink:/x;size=3; l", b"250 End"):
        link.feed(line + b"\r\n")
    assert link.listing_code == 250 and not link.listed and link.size is None


def test_ftp_dialect_learns_paths_and_listing() -> None:
    dialect = FtpDialect()
    assert dialect.file_method("auto") == "nocwd" and dialect.may_list()
    assert dialect.file_method("multicwd") == "multicwd"
    dialect.paths_answered()
    assert not dialect.paths_refused()  # paths worked here: the file is missing
    assert dialect.file_method("auto") == "nocwd"
    refusing = FtpDialect()
    assert refusing.paths_refused() and refusing.paths is Support.NO
    assert refusing.file_method("auto") == "singlecwd"


def test_ftp_dialect_stops_listing_once_refused() -> None:
    dialect = FtpDialect()
    dialect.listing_answered(True)
    assert dialect.may_list()
    dialect.listing_answered(False)
    assert not dialect.may_list()


def test_listing_argument_names_what_retr_fetches() -> None:
    assert listing_argument("ftp://h/a/b/c.dat", "nocwd") == b"a/b/c.dat"
    assert listing_argument("ftp://h/a/b/c.dat", "multicwd") == b"c.dat"
    assert listing_argument("ftp://h/%2Fabs/c%20d.dat", "nocwd") == b"/abs/c d.dat"
    assert listing_argument("ftp://h/d/caf%C3%A9.nc", "nocwd") == "d/café.nc".encode()
    assert listing_argument("ftp://h/a/b%0d%0aDELE%20x", "nocwd") is None  # no injection
    assert listing_argument("ftp://h/a/b.dat;type=i", "nocwd") is None
    assert listing_argument("ftp://h/dir/", "nocwd") is None
