"""The parsers of server replies, fed anything: they return what they read or
raise ``ProtocolError``, never another exception; every entry they return is
one name of its directory with a size a file can have. Plus each crash seen
before they were made so."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curlmulti_dl import ProtocolError
from curlmulti_dl.protocol.headers import FtpReplies, ResponseHead, parse_content_range
from curlmulti_dl.protocol.listing import (
    Entry,
    parse_index_page,
    parse_list,
    parse_mlsd,
    parse_nlst,
)
from curlmulti_dl.protocol.probe import ProbeResult, probe_from_ftp
from curlmulti_dl.protocol.readable import ftp_time, shown, size_of
from curlmulti_dl.protocol.s3 import parse_list_objects

T = TypeVar("T")
LIMIT = 2**63
BASE = "http://h/data/"

# Text as listings arrive: any bytes, decoded with surrogate escapes.
raw_text = st.binary(max_size=300).map(lambda b: b.decode("utf-8", "surrogateescape"))
any_text = st.one_of(st.text(max_size=200), raw_text)

# Numbers a server may write where a size or a date goes.
numbers = st.one_of(
    st.integers(0, 2**70).map(str),
    st.sampled_from(["", "²", "٣", "0x10", "-1", "1e3", " 7", "00042", str(LIMIT), str(LIMIT - 1)]),
    st.just("9" * 5000),
    st.text("0123456789²٣.", max_size=22),
)
dates = st.one_of(
    numbers,
    st.sampled_from(["20231123000000", "20231399000000", "20230229000000", "20231123000000.123",
                     "20240229235960", "00000101000000", "2023112300000", "20231123000000."]),
)  # fmt: skip
names = st.one_of(
    st.sampled_from([".", "..", "a/b", "x.nc", " ", "\x1b[31mred", "a\x00b", "-> z"]),
    st.text(min_size=1, max_size=12),
    raw_text.filter(bool),
)


def check(entries: list[Entry]) -> None:
    for entry in entries:
        assert entry.name and "/" not in entry.name, entry
        assert entry.kind in ("file", "dir", "other"), entry
        assert entry.size is None or 0 <= entry.size < LIMIT, entry


def read_or_refuse(parse: Callable[[], T]) -> T | None:
    """``parse()``'s value, or None when it refused with ProtocolError (one line)."""
    try:
        return parse()
    except ProtocolError as exc:
        assert "\n" not in str(exc) and "\r" not in str(exc) and "\x1b" not in str(exc)
        return None


@st.composite
def mlsd_lines(draw: st.DrawFn) -> str:
    keys = st.sampled_from(["type", "Type", "size", "SIZE", "modify", "perm", "unique", "x"])
    values = st.one_of(
        st.sampled_from(["file", "dir", "cdir", "pdir", "OS.unix=slink"]), numbers, dates
    )
    facts = draw(st.lists(st.tuples(keys, values), max_size=4))
    sep = draw(st.sampled_from([";", "; ", ""]))
    text = ";".join(f"{k}={v}" for k, v in facts)
    return f"{text}{sep} {draw(names)}"


@st.composite
def ls_lines(draw: st.DrawFn) -> str:
    mode = draw(st.sampled_from("-dlbcps?")) + draw(st.sampled_from(["rwxr-xr-x", "rw-r--r--"]))
    size = draw(numbers)
    day = draw(st.sampled_from(["Nov 23 00:00", "Dec 06  2023", "1, 3 Jan 01 00:00"]))
    return f"{mode} 1 0 0 {size} {day} {draw(names)}"


@given(st.one_of(any_text, st.lists(mlsd_lines(), max_size=5).map("\r\n".join)))
def test_mlsd_of_anything(text: str) -> None:
    entries = read_or_refuse(lambda: parse_mlsd(text))
    if entries is not None:
        check(entries)
        assert all(e.mtime is None or isinstance(e.mtime, int) for e in entries)


@given(st.one_of(any_text, st.lists(st.one_of(ls_lines(), names), max_size=5).map("\n".join)))
def test_list_of_anything(text: str) -> None:
    entries = read_or_refuse(lambda: parse_list(text))
    if entries is not None:
        check(entries)
    check(parse_nlst(text))  # what the names come from when LIST is not in the Unix form


hrefs = st.one_of(
    st.sampled_from(["http://[/", "http://[::1", "//[/x", "sub/", "../", "%2F", "a%2Fb", "%2E%2E/",
                     "?C=N", "//other/x", "a%00b", "http://h:99999/data/x", "x#frag", ".", "./",
                     "https://h/data/y", "http://h/data/z", "mailto:x", "a%ZZb", "[/]"]),
    st.text(max_size=20),
    raw_text,
)  # fmt: skip


@st.composite
def index_pages(draw: st.DrawFn) -> str:
    links = draw(st.lists(hrefs, max_size=6))
    junk = draw(
        st.sampled_from(["", "<![if x]>", "<!DOCTYPE html>", "<![CDATA[", "<a href=x", "&#"])
    )
    quote = draw(st.sampled_from(['"', "'"]))
    return junk + "".join(f"<a href={quote}{h}{quote}>{h}</a>" for h in links)


@given(st.one_of(any_text, index_pages()))
def test_index_page_of_anything(page: str) -> None:
    entries = read_or_refuse(lambda: parse_index_page(page, BASE))
    if entries is not None:
        check(entries)
        assert all(e.kind in ("file", "dir") and e.name not in (".", "..") for e in entries)


@st.composite
def s3_pages(draw: st.DrawFn) -> bytes:
    key = draw(st.one_of(names, st.just("")))
    size = draw(numbers)
    decl = draw(
        st.sampled_from(
            [
                "",
                '<?xml version="1.0"?>',
                '<?xml version="1.0" encoding="x"?>',
                '<!DOCTYPE a [<!ENTITY e "x">]>',
                '<!DOCTYPE a SYSTEM "http://x">',
            ]
        )
    )
    root = draw(st.sampled_from(["ListBucketResult", "Error", "ListBucketResult xmlns='y'"]))
    body = (f"<Contents><Key>{key}</Key><Size>{size}</Size><LastModified>{draw(dates)}"
            f"</LastModified></Contents><CommonPrefixes><Prefix>{draw(names)}/</Prefix>"
            f"</CommonPrefixes><IsTruncated>{draw(st.sampled_from(['true', 'x']))}</IsTruncated>"
            f"<NextContinuationToken>{draw(names)}</NextContinuationToken>"
            f"<EncodingType>{draw(st.sampled_from(['url', '']))}</EncodingType>")  # fmt: skip
    text = f"{decl}<{root}>{body}</{root.split()[0]}>"
    return text.encode("utf-8", "surrogateescape")


@given(st.one_of(st.binary(max_size=300), s3_pages()), st.sampled_from(["", "p/"]))
def test_s3_page_of_anything(body: bytes, prefix: str) -> None:
    found = read_or_refuse(lambda: parse_list_objects(body, prefix))
    if found is not None:
        entries, token = found
        check(entries)
        assert token is None or isinstance(token, str)


header_lines = st.one_of(
    st.binary(max_size=80),
    st.tuples(
        st.sampled_from([b"Content-Range", b"Content-Length", b"content-length", b"Location"]),
        st.one_of(
            st.tuples(numbers, numbers, numbers).map(lambda n: "bytes {}-{}/{}".format(*n)),
            numbers,
            st.sampled_from(["bytes */*", "5, 5", "5, 6", "http://[/", "bytes 0-1/*"]),
        ).map(lambda v: v.encode("utf-8", "surrogateescape")),
    ).map(lambda t: t[0] + b": " + t[1] + b"\r\n"),
    st.sampled_from([b"HTTP/1.1 206 Partial\r\n", b"HTTP/1.1 302 Found\r\n", b"\xb2: \xb2\r\n"]),
)


@given(st.lists(header_lines, max_size=8))
def test_response_head_of_anything(lines: list[bytes]) -> None:
    head = ResponseHead("http://h/x")
    for line in lines:
        head.feed(line)  # the header callback itself never raises
    ranged = read_or_refuse(lambda: head.content_range)
    if ranged is not None:
        assert ranged.total is None or 0 <= ranged.total < LIMIT
        if ranged.first is not None:
            assert ranged.last is not None and 0 <= ranged.first <= ranged.last < LIMIT
            assert ranged.total is None or ranged.last < ranged.total
    length = read_or_refuse(lambda: head.content_length)
    assert length is None or 0 <= length < LIMIT


ftp_lines = st.one_of(
    st.binary(max_size=60),
    st.tuples(
        st.sampled_from(["213 ", "150 Opening (", "250-Listing\r\n type=file;size=", " size="]),
        st.one_of(numbers, dates),
        st.sampled_from(["", " bytes).", ";modify=20231399000000; /a"]),
    ).map(lambda t: "".join(t).encode("utf-8", "surrogateescape") + b"\r\n"),
    st.just(b"213 \xb2\r\n"),
)


@given(st.lists(ftp_lines, max_size=8))
def test_ftp_replies_of_anything(lines: list[bytes]) -> None:
    replies = FtpReplies()
    for line in lines:
        replies.feed(line)  # the header callback itself never raises
    assert replies.size is None or 0 <= replies.size < LIMIT
    assert replies.announced is None or 0 <= replies.announced < LIMIT
    assert replies.bad is None or isinstance(replies.bad, ProtocolError)
    assert replies.mtime is None or isinstance(replies.mtime, int)


@given(st.one_of(numbers, any_text))
def test_a_size_is_ascii_digits_below_two_to_the_63(text: str) -> None:
    size = read_or_refuse(lambda: size_of(text))
    digits = text.isascii() and text.isdigit()
    readable = digits and len(text.lstrip("0")) < 20 and int(text) < LIMIT
    assert (size is not None) == readable
    if size is not None:
        assert size == int(text)


@given(st.one_of(dates, any_text))
def test_an_ftp_time_is_a_real_moment_or_none(text: str) -> None:
    seconds = ftp_time(text)
    if seconds is not None:
        stamp = time.gmtime(seconds)
        assert f"{stamp.tm_year:04d}{stamp.tm_mon:02d}{stamp.tm_mday:02d}" == text[:8] or (
            text[12:14] == "60"  # a leap second rolls over
        )


@given(any_text)
def test_shown_lines_are_one_short_escaped_line(line: str) -> None:
    text = shown(line)
    # (Escaped by repr: no control character or line break can be in it.)
    assert len(text) <= 2 + 80 * 10 + 3  # an escape takes at most 10 characters


# ---------------------------------------------------------------- each crash seen


def one_line_refusal(parse: Callable[[], object], *words: str) -> str:
    with pytest.raises(ProtocolError) as caught:
        parse()
    message = str(caught.value)
    assert "\n" not in message and "\x1b" not in message and len(message) < 300, message
    for word in words:
        assert word in message, message
    return message


def test_mlsd_facts_that_cannot_be_read_fail_the_listing() -> None:
    # Each was a ValueError (a traceback that stopped the batch); a date that
    # is no date is an unknown one (as MLST's), a size that is none fails.
    for day in ("20231399000000", "20230229000000"):
        [entry] = parse_mlsd(f"type=file;size=3;modify={day}; a.nc\r\n")
        assert (entry.name, entry.size, entry.mtime) == ("a.nc", 3, None)
    one_line_refusal(lambda: parse_mlsd("type=file;size=²; a.nc\r\n"), "size")
    one_line_refusal(lambda: parse_mlsd(f"type=file;size={'9' * 5000}; a.nc\r\n"), "2**63")
    one_line_refusal(lambda: parse_mlsd(f"type=file;size={LIMIT}; a.nc\r\n"), "2**63")
    one_line_refusal(lambda: parse_mlsd("type=file;size=٣; a.nc\r\n"), "size")
    # The line is named escaped and cut short: no terminal control reaches the user.
    message = one_line_refusal(lambda: parse_mlsd(f"type=file;size=x; \x1b[2J{'n' * 300}"))
    assert "\\x1b[2J" in message and "n" * 100 not in message


def test_mlsd_reads_what_rfc_3659_allows() -> None:
    text = (
        f"type=file;size={LIMIT - 1};modify=20231123000000.123; big\r\n"
        "type=file;size=00042;modify=20161231235960; leap\r\n"
        "type=file;size=1; a/b\r\n"  # a path, not a name of this directory
    )
    entries = parse_mlsd(text)
    assert [(e.name, e.size) for e in entries] == [("big", LIMIT - 1), ("leap", 42)]
    assert entries[0].mtime == 1700697600 and entries[1].mtime == 1483228800


def test_list_lines_with_unreadable_sizes() -> None:
    # "²" passes str.isdigit: the line is not of the Unix form (names then come from NLST).
    assert parse_list("-rw-r--r-- 1 0 0 ² Nov 23 00:00 a.nc\r\n") is None
    one_line_refusal(lambda: parse_list(f"-rw-r--r-- 1 0 0 {LIMIT} Nov 23 00:00 a.nc\r\n"), "a.nc")
    listed = parse_list(f"-rw-r--r-- 1 0 0 {LIMIT - 1} Nov 23 00:00 a.nc\r\n")
    assert listed == [Entry("a.nc", "file", LIMIT - 1)]


def test_index_page_link_that_is_no_url_is_skipped() -> None:
    page = '<a href="http://[/">x</a><a href="good.nc">g</a><a href="%2E%2E/">up</a>'
    assert parse_index_page(page, BASE) == [Entry("good.nc", "file")]
    # html.parser raises AssertionError on this declaration: the page is refused.
    one_line_refusal(lambda: parse_index_page('<![x]]><a href="good.nc">', BASE), "index page")


def test_s3_page_refusals() -> None:
    size = b"<ListBucketResult><Contents><Key>a</Key><Size>%s</Size></Contents></ListBucketResult>"
    one_line_refusal(lambda: parse_list_objects(size % "²".encode(), ""), "size")
    one_line_refusal(lambda: parse_list_objects(size % str(LIMIT).encode(), ""), "2**63")
    assert parse_list_objects(size % str(LIMIT - 1).encode(), "")[0][0].size == LIMIT - 1
    one_line_refusal(lambda: parse_list_objects(b"<Error><Code>Denied</Code></Error>", ""), "Error")
    one_line_refusal(lambda: parse_list_objects(b'<?xml version="1.0" encoding="x"?><a/>', ""))
    one_line_refusal(lambda: parse_list_objects(b"", ""))


def test_s3_page_with_a_dtd_is_refused_before_any_entity_is_expanded() -> None:
    laughs = b'<!ENTITY l0 "lol">' + b"".join(
        b'<!ENTITY l%d "%s">' % (n, b"&l%d;" % (n - 1) * 10) for n in range(1, 10)
    )
    body = b"<!DOCTYPE ListBucketResult [" + laughs + b"]><ListBucketResult>&l9;</ListBucketResult>"
    began = time.monotonic()
    one_line_refusal(lambda: parse_list_objects(body, ""), "DOCTYPE")
    assert time.monotonic() - began < 0.5
    external = b'<!DOCTYPE ListBucketResult SYSTEM "http://127.0.0.1:9/x.dtd"><ListBucketResult/>'
    one_line_refusal(lambda: parse_list_objects(external, ""), "DOCTYPE")
    utf16 = '<?xml version="1.0" encoding="utf-16"?><!DOCTYPE a><ListBucketResult/>'
    one_line_refusal(lambda: parse_list_objects(utf16.encode("utf-16"), ""), "DOCTYPE")


def head_of(*lines: bytes) -> ResponseHead:
    head = ResponseHead("http://h/x")
    for line in (b"HTTP/1.1 206 Partial Content\r\n", *lines):
        head.feed(line)
    return head


@pytest.mark.parametrize(
    "value",
    [f"bytes 0-99/{LIMIT}", f"bytes 0-99/{2**64}", "bytes 5-4/10", "bytes 0-10/10",
     f"bytes 0-{LIMIT}/*", "bytes 0-1/\xb2"],
)  # fmt: skip
def test_content_range_that_cannot_be_a_file_is_refused(value: str) -> None:
    head = head_of(f"Content-Range: {value}\r\n".encode("latin-1"))
    one_line_refusal(lambda: head.content_range, "Content-Range", "http://h/x")


@pytest.mark.parametrize("value", [b"\xb2", str(LIMIT).encode(), b"5, 6", b"", b"-1"])
def test_content_length_that_cannot_be_a_file_is_refused(value: bytes) -> None:
    head = head_of(b"Content-Length: " + value + b"\r\n")
    one_line_refusal(lambda: head.content_length, "Content-Length")
    assert head_of(b"Content-Length: 5, 5\r\n").content_length == 5


def test_a_location_that_is_no_url_does_not_break_the_header_callback() -> None:
    head = ResponseHead("http://h/x")
    for line in (b"HTTP/1.1 302 Found\r\n", b"Location: http://[/\r\n", b"HTTP/1.1 200 OK\r\n"):
        head.feed(line)
    assert head.url == "http://h/x" and head.status == 200


@pytest.mark.parametrize(
    "line",
    [f"213 {LIMIT}".encode(), b"213 \xb2", f"150 Opening (1{'0' * 30} bytes).".encode()],
)
def test_ftp_sizes_that_cannot_be_a_file_are_kept_as_bad(line: bytes) -> None:
    replies = FtpReplies()
    replies.feed(line + b"\r\n")
    assert replies.size is None and isinstance(replies.bad, ProtocolError)


def test_mlst_size_fact_that_cannot_be_a_file_is_kept_as_bad() -> None:
    replies = FtpReplies()
    for line in (b"250-Listing a", f" type=file;size={LIMIT}; /a".encode(), b"250 End"):
        replies.feed(line + b"\r\n")
    assert replies.size is None and not replies.listed and replies.bad is not None


def test_an_mdtm_answer_that_is_no_date_is_not_taken_for_a_size() -> None:
    replies = FtpReplies()
    replies.feed(b"213 20231399000000\r\n")  # was read as a size of 20 TB
    assert replies.size is None and replies.mtime is None and replies.bad is None


def test_no_probe_carries_a_size_of_two_to_the_63() -> None:
    with pytest.raises(ProtocolError):
        probe_from_ftp(LIMIT, None, "ftp://h/a")
    with pytest.raises(ProtocolError):
        ProbeResult(-1, None, None, "http://h/a", True)
    assert probe_from_ftp(LIMIT - 1, None, "ftp://h/a").size == LIMIT - 1


@settings(max_examples=30)
@given(st.integers(0, LIMIT - 1), st.integers(0, 2**70))
def test_content_range_bounds(first: int, total: int) -> None:
    value = f"bytes {first}-{first}/{total}"
    parsed = read_or_refuse(lambda: parse_content_range(value))
    assert (parsed is not None) == (first < total < LIMIT)


whole_names = st.text(
    st.characters(blacklist_characters="\n\r/", blacklist_categories=("Cs",)), min_size=1
).filter(lambda n: n not in (".", "..") and n.strip(" \t") == n)


@given(st.lists(whole_names, min_size=1, max_size=5, unique=True))
def test_a_listed_name_is_kept_whole_whatever_it_holds(listed: list[str]) -> None:
    # Only LF (or CRLF) ends a line: a form feed, \x1c or U+2028 inside a
    # name is part of it.
    mlsd = "".join(f"type=file;size=1; {name}\r\n" for name in listed)
    assert [e.name for e in parse_mlsd(mlsd)] == listed
    nlst = "".join(f"{name}\r\n" for name in listed)
    assert [e.name for e in parse_nlst(nlst)] == listed
