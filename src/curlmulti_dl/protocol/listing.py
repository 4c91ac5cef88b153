"""Directories and globs: which URLs name many files, and what a listing
says. Pure: strings in, entries out (property-tested).

A URL whose last path segment has glob characters (``*``, ``?``, ``[...]``
on FTP; ``*`` and ``[...]`` on HTTP, where ``?`` starts the query) names the
matching files of its directory; a URL ending in ``/`` names all of them.
The glob is read from the raw string, before libcurl (which would take a
``?`` for a query) or URL normalization see it.

Listings: FTP ``MLSD`` (RFC 3659: names with type, size and date, so the
batch is planned without a probe per file), ``LIST`` in the Unix form (names,
kinds and sizes), ``NLST`` (names only), and the
HTML index pages of nginx, Apache and lighttpd (links below the page only,
as ``wget -np`` follows them). A listing is the server's input: whatever
text it is, a parser returns entries (each one name of this directory, a
size below 2**63 where one is given) or raises ``ProtocolError``.

Example::

    split_glob("ftp://h/jma/hsd/202311/23/00/*B13*")
    # Glob(directory='ftp://h/jma/hsd/202311/23/00/', pattern='*B13*')
"""

from __future__ import annotations

import fnmatch
import html.parser
from dataclasses import dataclass
from urllib.parse import quote, unquote, urljoin, urlsplit

from .._exceptions import ProtocolError
from .readable import ascii_digits, ftp_time, shown, size_of

__all__ = [
    "Entry",
    "Glob",
    "entry_url",
    "parse_index_page",
    "parse_list",
    "parse_mlsd",
    "parse_nlst",
    "safe_name",
    "split_glob",
]

_FTP_GLOB = frozenset("*?[")
_HTTP_GLOB = frozenset("*[")


@dataclass(frozen=True)
class Glob:
    """``directory`` (ending in ``/``) and the ``pattern`` its names must
    match (``*`` for a directory URL)."""

    directory: str
    pattern: str

    def matches(self, name: str) -> bool:
        return fnmatch.fnmatchcase(name, self.pattern)


@dataclass(frozen=True)
class Entry:
    """One name in a listing: ``kind`` is "file", "dir" or "other";
    ``size`` and ``mtime`` (epoch seconds) when the listing said."""

    name: str
    kind: str = "file"
    size: int | None = None
    mtime: int | None = None


def split_glob(url: str) -> Glob | None:
    """The directory and pattern ``url`` names, or None for a single file."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in ("ftp", "ftps", "sftp", "s3", "http", "https"):
        return None
    glob_chars = _FTP_GLOB if scheme.lower() in ("ftp", "ftps", "sftp", "s3") else _HTTP_GLOB
    if scheme.lower().startswith("http"):
        rest = rest.split("#", 1)[0]
        if "?" in rest:
            return None  # a query: one resource, as the server decides
    slash = rest.find("/")
    if slash < 0:
        return None
    head, last = url[: len(url) - len(rest) + slash], rest[slash:]
    directory, _, name = last.rpartition("/")
    if not name:
        return Glob(f"{head}{directory}/", "*")
    if not glob_chars.intersection(name):
        return None
    return Glob(f"{head}{directory}/", unquote(name))


def entry_url(directory: str, name: str) -> str:
    """The URL of ``name`` in listing ``directory`` (the name percent-encoded)."""
    return directory + quote(name.encode("utf-8", "surrogateescape"), safe="")


def safe_name(name: str) -> bool:
    """A name a listing may give: one path segment, never up or a device."""
    return bool(name) and name not in (".", "..") and "/" not in name and "\0" not in name


def parse_mlsd(text: str) -> list[Entry]:
    """``type=file;size=123;modify=20231123000000; name`` lines (RFC 3659).

    A size that cannot be read (not ASCII digits below 2**63) fails the
    listing: its files would be planned from a size that is not theirs. A
    ``modify`` that is no real moment is an unknown date, as MLST's is: the
    file is then dated by its own answer."""
    entries = []
    for line in _lines(text):
        facts, sep, name = line.partition(" ")
        if not sep or not name or "=" not in facts:
            continue
        found = {}
        for fact in facts.split(";"):
            key, eq, value = fact.partition("=")
            if eq:
                found[key.strip().lower()] = value.strip()
        kind = found.get("type", "").lower()
        if kind in ("cdir", "pdir") or not _one_name(name):
            continue
        size = found.get("size")
        modify = found.get("modify")
        try:
            entry = Entry(
                name,
                "file" if kind == "file" else "dir" if kind == "dir" else "other",
                size_of(size) if size else None,
                ftp_time(modify) if modify else None,
            )
        except ProtocolError as exc:
            raise ProtocolError(f"MLSD line {shown(line)}: {exc.message}") from None
        entries.append(entry)
    return entries


def _lines(text: str) -> list[str]:
    """The lines of a listing: ends at LF (or CRLF) only. ``splitlines`` also
    splits at form feeds, Unicode line separators and others that a name may
    hold: ``b\u2028.bin`` would list ``b``, a file the server never named."""
    return [line.removesuffix("\r") for line in text.split("\n")]


def _one_name(name: str) -> bool:
    # A name with "/" is not one entry of this directory (a path some server
    # gave), and "." and ".." are the directory itself and its parent.
    return name not in (".", "..") and "/" not in name


def parse_list(text: str) -> list[Entry] | None:
    """A ``LIST`` in the Unix ``ls -l`` form that vsftpd, proftpd and
    pure-ftpd send (``drwxr-xr-x 2 0 0 4096 Nov 23 00:00 name``): names,
    kinds and sizes. None when a line is in another form (the names then
    come from NLST). A line of that form with a size of 2**63 or more fails
    the listing (``ProtocolError``)."""
    entries = []
    for line in _lines(text):
        if not line.strip() or line.startswith("total "):
            continue
        fields = line.split(None, 8)
        if len(fields) < 9 or line[0] not in "-dlbcps" or not ascii_digits(fields[4]):
            return None
        name = fields[8]
        if line[0] == "l":
            name = name.split(" -> ", 1)[0]
        kind = {"-": "file", "d": "dir"}.get(line[0], "other")
        if not name or not _one_name(name):
            continue
        try:
            size = size_of(fields[4]) if kind == "file" else None
        except ProtocolError as exc:
            raise ProtocolError(f"LIST line {shown(line)}: {exc.message}") from None
        entries.append(Entry(name, kind, size))
    return entries


def parse_nlst(text: str) -> list[Entry]:
    """One name per line (some servers give ``dir/name``: the last part)."""
    names = (line.strip(" \t").rpartition("/")[2] for line in _lines(text))
    return [Entry(name, "file") for name in names if name and name not in (".", "..")]


class _Links(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            href = dict(attrs).get("href")
            if href:
                self.hrefs.append(href)


def parse_index_page(page: str, base: str) -> list[Entry]:
    """The entries an HTML index page at ``base`` (ending in ``/``) links to:
    only names directly below it (no parent, no sort links, no other site);
    a link ending in ``/`` is a directory."""
    links = _Links()
    try:
        links.feed(page)
        links.close()
    except (AssertionError, ValueError) as exc:
        # html.parser is lenient, but a few malformed declarations still
        # raise; the page then is not an index this tool can read.
        raise ProtocolError(f"the index page cannot be parsed: {shown(str(exc))}") from None
    here = urlsplit(base)
    seen: dict[str, Entry] = {}
    for href in links.hrefs:
        try:
            target = urlsplit(urljoin(base, href))
        except ValueError:
            continue  # e.g. "http://[/": not a URL, so not a link to a file here
        if (target.scheme, target.netloc) != (here.scheme, here.netloc) or target.query:
            continue
        if not target.path.startswith(here.path) or target.path == here.path:
            continue
        rest = target.path[len(here.path) :]
        kind = "dir" if rest.endswith("/") else "file"
        # Escapes of bytes that are not UTF-8 stay those bytes (entry_url
        # sends them back as they were), never U+FFFD: another name.
        name = unquote(rest.rstrip("/"), errors="surrogateescape")
        if not name or not _one_name(name):
            continue
        seen.setdefault(name, Entry(name, kind))
    return list(seen.values())
