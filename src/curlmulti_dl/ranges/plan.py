"""Pure range planning: the initial split and the rebalancing split. No I/O.

Ranges are half-open ``[start, end)``. The invariants the property tests check:
the planned ranges cover ``[0, size)`` exactly once, and a split cuts one range
into two adjacent ones without losing or duplicating a byte.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["ByteRange", "RangeState", "choose_victim", "plan_ranges", "split_point"]


@dataclass(frozen=True)
class ByteRange:
    """Bytes ``[start, end)`` of a file."""

    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start


def plan_ranges(
    size: int, parts: int, min_part_size: int, last_weight: float = 1.0
) -> list[ByteRange]:
    """Split ``size`` bytes into at most ``parts`` near-equal ranges of at least
    ``min_part_size`` bytes (one range when the file is too small to split).
    ``last_weight``: the last range's size relative to the others' (kept
    equal when that would make it smaller than ``min_part_size``).

    >>> plan_ranges(10, 3, 1)
    [ByteRange(start=0, end=4), ByteRange(start=4, end=7), ByteRange(start=7, end=10)]
    >>> plan_ranges(100, 2, 1, last_weight=0.25)
    [ByteRange(start=0, end=80), ByteRange(start=80, end=100)]
    """
    if size < 0 or parts < 1 or min_part_size < 1 or not 0 < last_weight <= 1:
        raise ValueError(
            "size >= 0, parts >= 1, min_part_size >= 1 and 0 < last_weight <= 1 are required"
        )
    if size == 0:
        return []
    count = max(1, min(parts, size // min_part_size))
    if count > 1 and last_weight < 1:
        unit = size / (count - 1 + last_weight)
        cuts = [round(unit * index) for index in range(count)] + [size]
        if cuts[-1] - cuts[-2] >= min_part_size:
            return [ByteRange(cuts[i], cuts[i + 1]) for i in range(count)]
    base, extra = divmod(size, count)
    ranges = []
    start = 0
    for index in range(count):
        end = start + base + (1 if index < extra else 0)
        ranges.append(ByteRange(start, end))
        start = end
    return ranges


@dataclass(frozen=True)
class RangeState:
    """What the rebalancer knows of one running range.

    ``pos`` is the next byte the connection will write; ``rate`` its measured
    bytes per second (0 when not yet known).
    """

    key: int
    pos: int
    end: int
    rate: float

    @property
    def remaining(self) -> int:
        return self.end - self.pos


def choose_victim(ranges: Sequence[RangeState], min_split_size: int) -> RangeState | None:
    """The running range that would finish last, among those with more than
    ``2 * min_split_size`` bytes left (both halves must be worth a connection).

    A range with no measured rate yet is ranked by its remaining bytes alone,
    after every range whose finish time is known to be later.
    """
    candidates = [r for r in ranges if r.remaining > 2 * min_split_size]
    if not candidates:
        return None

    def finish_key(r: RangeState) -> tuple[float, int]:
        eta = r.remaining / r.rate if r.rate > 0 else 0.0
        return (eta, r.remaining)

    return max(candidates, key=finish_key)


def split_point(
    victim: RangeState,
    newcomer_rate: float,
    setup_seconds: float,
    min_split_size: int,
) -> int | None:
    """Where to cut ``victim`` so that it and a new connection finish together.

    The victim keeps ``[pos, cut)`` and the newcomer takes ``[cut, end)``. The
    newcomer first pays ``setup_seconds`` (connect, TLS, FTP login). Without
    rates the cut is the middle. Returns None when the newcomer's share would be
    smaller than ``min_split_size``: not worth a connection.
    """
    remaining = victim.remaining
    if remaining <= 2 * min_split_size:
        return None
    if victim.rate > 0 and newcomer_rate > 0:
        # Solve (cut - pos) / rv == setup + (end - cut) / rn for cut.
        rv, rn = victim.rate, newcomer_rate
        keep = rv * (setup_seconds * rn + remaining) / (rn + rv)
        keep_bytes = int(keep)
    else:
        keep_bytes = remaining // 2
    if remaining - keep_bytes < min_split_size:
        return None
    keep_bytes = max(min_split_size, keep_bytes)
    return victim.pos + keep_bytes


def should_replace(
    victim: RangeState,
    others_rate: float,
    setup_seconds: float,
    min_split_size: int,
    slow_factor: float = 0.5,
) -> bool:
    """Whether a connection is so slow that a fresh one would finish its range sooner.

    Servers and paths often slow down single connections (a busy backend, a
    per-connection shaper): a new connection usually lands elsewhere. Replace
    when the victim runs below ``slow_factor`` of the others' median rate and a
    newcomer at that median, after ``setup_seconds``, saves at least that much
    set-up time again.
    """
    if victim.rate <= 0 or others_rate <= 0 or victim.remaining <= 2 * min_split_size:
        return False
    if victim.rate >= slow_factor * others_rate:
        return False
    stay = victim.remaining / victim.rate
    move = setup_seconds + victim.remaining / others_rate
    return stay - move > max(setup_seconds, 0.1)
