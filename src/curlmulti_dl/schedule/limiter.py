"""Connection slots with owners, in the manner of trio's ``CapacityLimiter``.

Synchronous: nobody waits on a limiter here; the scheduler asks
``try_acquire`` when it decides what to start, and whoever was refused stays
in its queue. A slot is held by a named borrower (a transfer) and only that
borrower releases it, so a slot can neither leak nor be freed twice unseen.
``total`` may change while slots are held: lowering it lets current holders
finish and admits nobody new until the count is below the new limit.

Example::

    limiter = SlotLimiter(2)
    limiter.try_acquire("a") and limiter.try_acquire("b")   # True
    limiter.try_acquire("c")                                # False: full
    limiter.release("a")
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

__all__ = ["LimiterStatistics", "SlotLimiter"]


@dataclass(frozen=True)
class LimiterStatistics:
    """What a test (or a display) can read of a limiter."""

    borrowed: int
    total: int
    borrowers: tuple[Hashable, ...]
    refused: int  # try_acquire calls that found no free slot


class SlotLimiter:
    """At most ``total`` slots held at once, each by one borrower."""

    def __init__(self, total: int) -> None:
        self._total = _check_total(total)
        self._holders: dict[Hashable, None] = {}
        self._refused = 0

    @property
    def total(self) -> int:
        return self._total

    @total.setter
    def total(self, value: int) -> None:
        self._total = _check_total(value)

    @property
    def borrowed(self) -> int:
        return len(self._holders)

    @property
    def available(self) -> int:
        return max(0, self._total - len(self._holders))

    def holds(self, borrower: Hashable) -> bool:
        return borrower in self._holders

    def try_acquire(self, borrower: Hashable) -> bool:
        """Give ``borrower`` a slot if one is free (a borrower holds at most one)."""
        if borrower in self._holders:
            raise RuntimeError(f"{borrower!r} already holds a slot")
        if len(self._holders) >= self._total:
            self._refused += 1
            return False
        self._holders[borrower] = None
        return True

    def release(self, borrower: Hashable) -> None:
        """Give back ``borrower``'s slot; only a holder may release."""
        try:
            del self._holders[borrower]
        except KeyError:
            raise RuntimeError(f"{borrower!r} holds no slot") from None

    def statistics(self) -> LimiterStatistics:
        return LimiterStatistics(
            borrowed=len(self._holders),
            total=self._total,
            borrowers=tuple(self._holders),
            refused=self._refused,
        )


def _check_total(value: int) -> int:
    # 0 admits nobody: a host no lease was given for yet (``Scheduler``).
    if not isinstance(value, int) or value < 0:
        raise ValueError(f"a limit must be an integer >= 0, not {value!r}")
    return value
