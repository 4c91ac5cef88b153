"""Text from servers and lists made safe to print: control characters (ESC,
BEL, CSI...) and bytes that are not UTF-8 are shown as ``\\xNN`` escapes, so
no name or reply can move a terminal's cursor, recolour it, or make a line
that is not valid UTF-8 (or, in ``--json``, not valid JSON). Pure.

>>> printable("a\\x1b[31mb")
'a\\\\x1b[31mb'
>>> printable("caf\\udce9")
'caf\\\\xe9'
"""

from __future__ import annotations

import re

__all__ = ["has_raw_bytes", "printable"]

# C0 but tab, DEL, C1; line and paragraph separators and the marks that
# reorder text; lone surrogates (surrogateescape'd bytes, or worse).
_UNPRINTABLE = re.compile(
    r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)


def printable(text: str) -> str:
    """``text`` with every control character and raw byte escaped."""
    if not _UNPRINTABLE.search(text):
        return text  # the common case costs one scan
    return _UNPRINTABLE.sub(_escape, text)


def has_raw_bytes(text: str) -> bool:
    """Whether ``text`` holds bytes that were not UTF-8 (surrogate escapes)."""
    return any("\udc80" <= c <= "\udcff" for c in text)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"
