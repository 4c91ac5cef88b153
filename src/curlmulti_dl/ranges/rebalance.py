"""The three ways work moves between connections, as pure decisions.

The download describes its running ranges as ``Running`` values; each function
returns what to do (or None) and the download does it.

- ``choose_split``: a free connection cuts the range that would finish last so
  that both finish together (the newcomer pays its set-up first).
- ``choose_quiet_tail``: endgame; a range too small to split whose server went
  quiet is taken over whole by the free connection.
- ``choose_replacement``: a connection far below the others' rate hands its
  remaining bytes to a new connection, when that pays for the set-up.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from .._policy import RebalancePolicy
from .plan import RangeState, choose_victim, should_replace, split_point

__all__ = [
    "Running",
    "choose_quiet_tail",
    "choose_replacement",
    "choose_split",
    "split_saving",
]


_MEASURED = 1.0  # bytes per second: below this a rate is no measure


@dataclass(frozen=True)
class Running:
    """One running range as the rebalancer sees it.

    ``seen_pos``/``seen_at``: where the download's tick last saw ``pos`` move,
    and when (so no clock is read in the write path).
    """

    key: int
    pos: int
    end: int
    rate: float
    first_byte_at: float
    seen_pos: int
    seen_at: float
    replacements: int = 0

    @property
    def remaining(self) -> int:
        return self.end - self.pos


def choose_split(
    ranges: Sequence[Running],
    setup: float,
    min_split: int,
    settled_before: float = float("inf"),
) -> tuple[int, int] | None:
    """``(key, cut)``: cut range ``key`` at byte ``cut``; the newcomer takes the rest.

    The victim is the range that would finish last. The newcomer first waits
    ``setup`` seconds for its first byte (a login on FTP); the split is made
    only when it brings the victim's finish forward by at least that much
    again: a new session must pay for itself. Without measured rates (the
    first moments of a download) the cut is the middle.

    A rate is trusted only from ranges whose first byte came before
    ``settled_before`` (a connection's first fraction of a second says little
    of its speed); the others are assumed as fast as the trusted median.
    """
    settled = [
        r.rate for r in ranges if r.rate >= _MEASURED and 0 < r.first_byte_at <= settled_before
    ]
    rates = settled or [r.rate for r in ranges if r.rate >= _MEASURED]
    newcomer_rate = statistics.median(rates) if rates else 0.0

    def rate_of(r: Running) -> float:
        return (
            r.rate
            if r.rate >= _MEASURED and 0 < r.first_byte_at <= settled_before
            else newcomer_rate
        )

    states = {r.key: RangeState(r.key, r.pos, r.end, rate_of(r)) for r in ranges}
    victim = choose_victim(list(states.values()), min_split)
    if victim is None:
        return None
    started = next(r.first_byte_at > 0 for r in ranges if r.key == victim.key)
    # A victim still waiting for its first byte waits as long as the newcomer.
    wait = setup if started else 0.0
    cut = split_point(victim, newcomer_rate, wait, min_split)
    if cut is None:
        return None
    if newcomer_rate >= _MEASURED and split_saving(victim, cut, newcomer_rate, wait) < setup:
        return None
    return victim.key, cut


def split_saving(victim: RangeState, cut: int, newcomer_rate: float, setup: float) -> float:
    """Seconds by which cutting ``victim`` at ``cut`` brings its bytes' finish
    forward, the newcomer starting ``setup`` seconds late."""
    if victim.rate < _MEASURED or newcomer_rate < _MEASURED:
        return 0.0
    before = victim.remaining / victim.rate
    after = max((cut - victim.pos) / victim.rate, setup + (victim.end - cut) / newcomer_rate)
    return before - after


def choose_quiet_tail(
    ranges: Sequence[Running], now: float, setup: float, policy: RebalancePolicy
) -> int | None:
    """The key of a started range that sent nothing for a while, quietest first."""
    quiet_for = max(policy.quiet_tail, 2 * setup)
    stalled = [
        r
        for r in ranges
        if r.first_byte_at and r.pos < r.end and r.pos == r.seen_pos and now - r.seen_at > quiet_for
    ]
    if not stalled:
        return None
    return min(stalled, key=lambda r: r.seen_at).key


def choose_replacement(
    ranges: Sequence[Running],
    now: float,
    setup: float,
    min_split: int,
    policy: RebalancePolicy,
) -> int | None:
    """The key of a connection so slow that a new one would finish its range sooner."""
    settled = [r for r in ranges if r.first_byte_at and now - r.first_byte_at >= policy.warmup]
    if len(settled) < 2:
        return None
    slowest = min(settled, key=lambda r: r.rate)
    others = statistics.median(r.rate for r in settled if r is not slowest)
    if slowest.replacements >= policy.max_replacements:
        return None
    state = RangeState(slowest.key, slowest.pos, slowest.end, slowest.rate)
    if not should_replace(state, others, setup, min_split, policy.slow_factor):
        return None
    return slowest.key
