"""The figures a display shows, as people write them: sizes in binary
units (``319.9/527.3 KiB``), speeds, durations, a batch's counts and total.
Pure, and free of rich: plain output (logs, cron jobs) uses them too.
"""

from __future__ import annotations

from .._expected import ExpectedSizes

__all__ = ["batch_total", "bytes_pair", "duration", "file_count", "speed"]

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


def _scaled(n: float, unit: int) -> str:
    return f"{n:.0f}" if unit == 0 else f"{n / 1024**unit:.1f}"


def _unit(n: float) -> int:
    unit = 0
    while unit < len(_UNITS) - 1 and abs(n) >= 1024 ** (unit + 1):
        unit += 1
    return unit


def bytes_pair(done: int, total: int | None, bound: bool = False) -> str:
    """``319.9/527.3 KiB``, in the total's unit; ``…/≥527.3 KiB`` when the total
    is a lower bound; the bytes alone when there is no total."""
    if total is None:
        unit = _unit(done)
        return f"{_scaled(done, unit)} {_UNITS[unit]}"
    unit = _unit(max(total, done))
    return f"{_scaled(done, unit)}/{'≥' if bound else ''}{_scaled(total, unit)} {_UNITS[unit]}"


def speed(bytes_per_second: float | None) -> str:
    """``1.2 MiB/s``; nothing while it cannot be told yet."""
    if bytes_per_second is None:
        return ""
    unit = _unit(bytes_per_second)
    return f"{_scaled(bytes_per_second, unit)} {_UNITS[unit]}/s"


def duration(seconds: float) -> str:
    """``42 s``, ``12m05s``, ``3h12m``; ``>99h`` past that (or at no speed)."""
    if not seconds < 100 * 3600:  # (infinite, or NaN, at a speed near zero)
        return ">99h"
    s = int(max(0.0, seconds) + 0.5)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s // 60 % 60:02d}m"


def file_count(done: int, failed: int, in_flight: int, expected: ExpectedSizes | None) -> str:
    """``12/60`` files done; ``12/≥60`` while more may come; ``12`` with no count."""
    if expected is None or not expected.files:
        return str(done)
    counted = max(expected.files, done + failed + in_flight)
    return f"{done}/{'' if expected.complete else '≥'}{counted}"


def batch_total(done: int, expected: ExpectedSizes | None) -> tuple[int | None, bool]:
    """The total to show, and whether it is a lower bound (None: nothing known)."""
    if expected is None or (not expected.known and not expected.exact):
        return None, False
    bound = not expected.exact
    return (max(expected.known, done) if bound else expected.known), bound
