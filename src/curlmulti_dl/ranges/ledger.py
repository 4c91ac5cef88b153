"""The range ledger: which bytes of one file are pending, assigned, written,
durable. Pure: no I/O, no clock.

Every byte of ``[0, size)`` is in exactly one of three places: a pending span
(nobody fetches it), the unwritten rest of an assignment (a transfer is
fetching it), or the written set (it reached the file). Durable bytes are a
subset of the written ones (the data was synced). A transfer's hot path never
touches the ledger: it counts its own position, and the ledger is told at
flushes and at the end.

Example::

    ledger = RangeLedger(100)
    first = ledger.take("a")              # ByteRange(0, 100), assigned to "a"
    rest = ledger.cut("a", 50)            # "a" now stops at 50; [50, 100) pending
    ledger.assign("b", rest)
    ledger.record_written("a", 50)
    ledger.finish("a")
"""

from __future__ import annotations

import bisect
from collections.abc import Hashable, Iterable, Iterator
from dataclasses import dataclass

from .plan import ByteRange

__all__ = ["Assignment", "LedgerError", "RangeLedger", "SpanSet"]


class LedgerError(AssertionError):
    """An operation that would lose or duplicate a byte (a bug, never input)."""


class SpanSet:
    """A set of bytes as sorted, disjoint, non-adjacent half-open spans."""

    def __init__(self, spans: Iterable[ByteRange] = ()) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []
        for span in spans:
            self.add(span.start, span.end)

    def add(self, start: int, end: int) -> None:
        if start >= end:
            return
        # Merge with every span that overlaps or touches [start, end).
        lo = bisect.bisect_left(self._ends, start)
        hi = bisect.bisect_right(self._starts, end)
        if lo < hi:
            start = min(start, self._starts[lo])
            end = max(end, self._ends[hi - 1])
        self._starts[lo:hi] = [start]
        self._ends[lo:hi] = [end]

    def remove(self, start: int, end: int) -> None:
        if start >= end:
            return
        lo = bisect.bisect_right(self._ends, start)
        hi = bisect.bisect_left(self._starts, end)
        pieces_s: list[int] = []
        pieces_e: list[int] = []
        if lo < hi:
            if self._starts[lo] < start:
                pieces_s.append(self._starts[lo])
                pieces_e.append(start)
            if self._ends[hi - 1] > end:
                pieces_s.append(end)
                pieces_e.append(self._ends[hi - 1])
        self._starts[lo:hi] = pieces_s
        self._ends[lo:hi] = pieces_e

    def contains(self, start: int, end: int) -> bool:
        """Whether every byte of ``[start, end)`` is in the set."""
        if start >= end:
            return True
        index = bisect.bisect_right(self._starts, start) - 1
        return index >= 0 and self._ends[index] >= end

    def first(self) -> ByteRange | None:
        return ByteRange(self._starts[0], self._ends[0]) if self._starts else None

    def __iter__(self) -> Iterator[ByteRange]:
        return (ByteRange(s, e) for s, e in zip(self._starts, self._ends, strict=True))

    def __len__(self) -> int:
        return len(self._starts)

    @property
    def total(self) -> int:
        return sum(e - s for s, e in zip(self._starts, self._ends, strict=True))

    def copy(self) -> SpanSet:
        clone = SpanSet()
        clone._starts, clone._ends = list(self._starts), list(self._ends)
        return clone


@dataclass
class Assignment:
    """Bytes ``[start, end)`` given to one transfer; ``[start, written)`` reached the file."""

    start: int
    end: int
    written: int


class RangeLedger:
    """Bookkeeping of one file's bytes (see the module docstring)."""

    def __init__(self, size: int) -> None:
        if size < 0:
            raise ValueError("size must be >= 0")
        self.size = size
        self.pending = SpanSet([ByteRange(0, size)])
        self.written = SpanSet()
        self.durable = SpanSet()
        self._assigned: dict[Hashable, Assignment] = {}

    # ------------------------------------------------------------ assigning

    def take(self, key: Hashable, limit: int | None = None) -> ByteRange | None:
        """Assign the first pending span (at most ``limit`` bytes of it) to ``key``."""
        span = self.pending.first()
        if span is None:
            return None
        end = span.end if limit is None else min(span.end, span.start + limit)
        taken = ByteRange(span.start, end)
        self.assign(key, taken)
        return taken

    def assign(self, key: Hashable, span: ByteRange) -> None:
        """Give the pending bytes ``span`` to ``key``."""
        if key in self._assigned:
            raise LedgerError(f"{key!r} already holds a range")
        if span.start >= span.end or not self.pending.contains(span.start, span.end):
            raise LedgerError(f"{span} is not pending")
        self.pending.remove(span.start, span.end)
        self._assigned[key] = Assignment(span.start, span.end, span.start)

    def cut(self, key: Hashable, at: int) -> ByteRange | None:
        """``key`` stops at ``at``; the bytes from there to its old end become
        pending and are returned (None when nothing was cut off)."""
        held = self._held(key)
        if not held.written <= at <= held.end:
            raise LedgerError(f"cannot cut [{held.start}, {held.end}) at {at}")
        if at == held.end:
            return None
        rest = ByteRange(at, held.end)
        held.end = at
        self.pending.add(rest.start, rest.end)
        return rest

    def release(self, key: Hashable) -> ByteRange | None:
        """``key`` gives up: its unwritten bytes become pending again (returned)."""
        held = self._assigned.pop(key, None)
        if held is None:
            return None
        if held.written == held.end:
            return None
        rest = ByteRange(held.written, held.end)
        self.pending.add(rest.start, rest.end)
        return rest

    def finish(self, key: Hashable) -> None:
        """``key`` wrote every byte it was given."""
        held = self._held(key)
        if held.written != held.end:
            raise LedgerError(f"{key!r} finished at {held.written}, expected {held.end}")
        del self._assigned[key]

    # ------------------------------------------------------------ progress

    def record_written(self, key: Hashable, upto: int) -> None:
        """Bytes of ``key`` up to ``upto`` reached the file."""
        held = self._held(key)
        if not held.written <= upto <= held.end:
            raise LedgerError(f"written mark {upto} outside [{held.written}, {held.end}]")
        self.written.add(held.written, upto)
        held.written = upto

    def restore(self, durable: Iterable[ByteRange]) -> None:
        """Bytes a journal says are on disk from an earlier run: written and
        durable, no longer pending (before anything is assigned)."""
        if self._assigned:
            raise LedgerError("restore before assigning")
        for span in durable:
            if not 0 <= span.start < span.end <= self.size:
                raise LedgerError(f"{span} is outside [0, {self.size})")
            self.pending.remove(span.start, span.end)
            self.written.add(span.start, span.end)
            self.durable.add(span.start, span.end)

    def mark_durable(self, synced: SpanSet) -> None:
        """The bytes in ``synced`` (a copy of ``written`` taken before a sync) are on disk."""
        for span in synced:
            if not self.written.contains(span.start, span.end):
                raise LedgerError(f"{span} was never written")
            self.durable.add(span.start, span.end)

    def holding(self, key: Hashable) -> Assignment | None:
        return self._assigned.get(key)

    @property
    def assigned(self) -> dict[Hashable, Assignment]:
        return dict(self._assigned)

    @property
    def bytes_written(self) -> int:
        return self.written.total

    @property
    def complete(self) -> bool:
        return self.written.contains(0, self.size)

    def _held(self, key: Hashable) -> Assignment:
        held = self._assigned.get(key)
        if held is None:
            raise LedgerError(f"{key!r} holds no range")
        return held
