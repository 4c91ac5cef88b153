"""Facts read out of a server's answer, which is input like any other: sizes
(ASCII digits only, below 2**63, what a file offset can hold), FTP times
(``YYYYMMDDHHMMSS[.sss]`` that name a real moment), and answer lines shown
in an error message safely (short, escaped). Pure: no I/O.

``str.isdigit`` is not a test of a number here: ``"²"`` passes it and fails
``int()``, and ``int()`` takes other scripts' digits (``"٣"``) too.

Example::

    size_of("1048576")        # 1048576
    size_of("²")              # raises ProtocolError
    ftp_time("20231399000000")   # None: there is no 13th month
"""

from __future__ import annotations

import calendar
import re

from .._exceptions import ProtocolError

__all__ = ["SIZE_LIMIT", "ascii_digits", "ftp_time", "shown", "size_of"]

#: Sizes and offsets are off_t: anything from here up overflows the file calls.
SIZE_LIMIT = 2**63
_LIMIT_DIGITS = len(str(SIZE_LIMIT))
_TIME_RE = re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})([0-9]{2})([0-9]{2})([0-9]{2})(?:\.[0-9]+)?")


def ascii_digits(text: str) -> bool:
    """Whether ``text`` is one or more of the digits 0-9 and nothing else."""
    return text.isascii() and text.isdigit()


def size_of(text: str, what: str = "size") -> int:
    """The number ``text`` states, if it is a size (ASCII digits, below
    2**63); else ``ProtocolError`` naming ``what``."""
    # Leading zeros are still a number; the length test comes before int(),
    # which refuses (ValueError) beyond 4300 digits.
    digits = text.lstrip("0") if ascii_digits(text) else None
    if digits is None or len(digits) > _LIMIT_DIGITS or int(digits or "0") >= SIZE_LIMIT:
        raise ProtocolError(f"{what} {shown(text, 40)} is not a number of bytes below 2**63")
    return int(digits or "0")


def ftp_time(text: str) -> int | None:
    """Seconds since the epoch of ``YYYYMMDDHHMMSS[.sss]`` (UTC, RFC 3659's
    time-val, MDTM's answer); None unless it names a real moment (a second
    of 60 is a leap second)."""
    match = _TIME_RE.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in match.groups())
    if not (1 <= month <= 12 and hour < 24 and minute < 60 and second <= 60):
        return None
    if not (year >= 1 and 1 <= day <= calendar.monthrange(year, month)[1]):
        return None
    return calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))


def shown(line: str, limit: int = 80) -> str:
    """``line`` as an error message may quote it: escaped as ``repr`` does (no
    control character reaches a terminal) and cut to about ``limit`` characters,
    its middle left out (a listing line's name is at its end).

    >>> shown("type=file;size=" + "9" * 5000 + "; a.nc", 30)
    "'type=file;size='...'999999999; a.nc'"
    """
    if len(line) > limit:
        head = limit // 2 + limit % 2
        return f"{line[:head]!r}...{line[len(line) - limit // 2 :]!r}"
    return repr(line)
