"""Local names: the file a URL or a listed name is saved as, and the
temporary files beside it. Pure: no I/O.

``filename_from_url`` picks a safe local name for a URL (URLs themselves
are ``protocol.urls``'); ``local_name`` for a name a server listed.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from urllib.parse import unquote_to_bytes, urlsplit

__all__ = [
    "JOURNAL_SUFFIX",
    "MAX_NAME_BYTES",
    "filename_from_url",
    "journal_path_for",
    "local_name",
    "part_path_for",
    "shorten_name",
    "without_controls",
]


# A name from a server: C0, DEL and C1 controls (ESC, BEL, CSI...) never reach
# a file name, where every later ``ls`` would print them to a terminal.
# Nor do line and paragraph separators, or the marks that reorder text.
_SERVER_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f/\u2028\u2029\u202a-\u202e\u2066-\u2069]")
# A URL's last segment, decoded: the same, and "\\" (a separator elsewhere).
_UNSAFE_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f/\\\u2028\u2029\u202a-\u202e\u2066-\u2069]")
#: Longest file name most file systems take (ext4, xfs, btrfs: 255 bytes).
MAX_NAME_BYTES = 255
_PART_SUFFIX = ".part"


_FTP_TYPE = re.compile(r";type=[aid]$", re.IGNORECASE)


def filename_from_url(url: str) -> str:
    """A safe file name from the URL's last path segment.

    Percent-escapes are decoded as UTF-8 (an escape that is not UTF-8 stays as
    it was written), separators and control characters replaced, so the name
    can never reach outside the destination directory; a name too long for
    ``NAME.part`` to fit the file system is shortened, keeping its extension.

    >>> filename_from_url("https://h/data/HS_H09_B13.nc?sig=1")
    'HS_H09_B13.nc'
    >>> filename_from_url("http://h/a/..%2F..%2Fetc%2Fpasswd")
    '.._.._etc_passwd'
    >>> filename_from_url("http://h/x%FFy")
    'x%FFy'
    >>> filename_from_url("ftp://h/pub/f.bin;type=i")
    'f.bin'
    """
    parts = urlsplit(url)
    path = parts.path
    if parts.scheme.lower() in ("ftp", "ftps"):
        path = _FTP_TYPE.sub("", path)  # RFC 1738's transfer type, not part of the name
    segment = _decode_segment(path.rsplit("/", 1)[-1])
    name = _UNSAFE_CHARS.sub("_", segment).strip()
    if name in ("", ".", ".."):
        name = "index.html" if path.endswith("/") or not path else "download"
    return shorten_name(name, MAX_NAME_BYTES - len(_PART_SUFFIX))


def local_name(name: str) -> str:
    """The file name for a name a listing gave: control characters and
    separators become ``_``; bytes that are not UTF-8 (surrogate escapes) stay
    the bytes the server sent; too long for ``NAME.part``: shortened.

    >>> local_name("a\x1b[31mb.nc")
    'a_[31mb.nc'
    """
    cleaned = without_controls(name).strip()
    if cleaned in ("", ".", ".."):
        cleaned = cleaned.replace(".", "_") or "_"
    return shorten_name(cleaned, MAX_NAME_BYTES - len(_PART_SUFFIX))


def without_controls(name: str) -> str:
    """``name`` with control characters, separators and reordering marks as ``_``."""
    return _SERVER_UNSAFE.sub("_", name)


def _decode_segment(segment: str) -> str:
    """Decode percent-escapes; bytes that are not UTF-8 keep their ``%XX`` form."""
    raw = unquote_to_bytes(segment)
    text = raw.decode("utf-8", "surrogateescape")
    return re.sub(r"[\udc80-\udcff]", lambda m: f"%{ord(m.group()) - 0xDC00:02X}", text)


def shorten_name(name: str, limit: int) -> str:
    """``name`` cut to at most ``limit`` UTF-8 bytes, keeping a short extension.

    >>> shorten_name("a" * 300 + ".nc", 20)
    'aaaaaaaaaaaaaaaaa.nc'
    """
    if _fs_bytes(name) <= limit:
        return name
    stem, dot, ext = name.rpartition(".")
    suffix = f".{ext}" if dot and stem and 0 < _fs_bytes(ext) <= 16 else ""
    stem = name[: len(name) - len(suffix)]
    room = limit - _fs_bytes(suffix)
    # Whole characters only: a name's raw bytes (surrogate escapes) are kept.
    kept, used = [], 0
    for char in stem:
        size = _fs_bytes(char)
        if used + size > room:
            break
        kept.append(char)
        used += size
    return "".join(kept) + suffix


def _fs_bytes(text: str) -> int:
    """The bytes ``text`` takes in a file name (surrogate escapes: one each)."""
    try:
        return len(text.encode("utf-8", "surrogateescape"))
    except UnicodeEncodeError:  # a lone surrogate that is no escaped byte: 3 bytes each
        return sum(
            1 if "\udc80" <= c <= "\udcff" else len(c.encode("utf-8", "surrogatepass"))
            for c in text
        )


JOURNAL_SUFFIX = ".journal"  # NAME.part.journal: the resume journal beside NAME.part


def part_path_for(final_path: Path) -> Path:
    """``NAME.part`` beside ``final_path``; for a name too long for that (and
    its journal, ``NAME.part.journal``), a shortened name with a digest of the
    full one (still unique per name)."""
    name = final_path.name
    room = MAX_NAME_BYTES - len(".part") - len(JOURNAL_SUFFIX)
    if len(name.encode("utf-8", "surrogateescape")) <= room:
        return final_path.with_name(name + ".part")
    digest = hashlib.sha256(os.fsencode(name)).hexdigest()[:8]
    short = shorten_name(name, room - 9)
    return final_path.with_name(f"{short}~{digest}.part")


def journal_path_for(part_path: Path) -> Path:
    return part_path.with_name(part_path.name + JOURNAL_SUFFIX)
