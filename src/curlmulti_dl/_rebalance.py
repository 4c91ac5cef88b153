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

from ._plan import RangeState, choose_victim, should_replace, split_point
from ._policy import RebalancePolicy

__all__ = ["Running", "choose_quiet_tail", "choose_replacement", "choose_split"]


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
    ranges: Sequence[Running], setup: float, min_split: int, per_connection_login: bool
) -> tuple[int, int] | None:
    """``(key, cut)``: cut range ``key`` at byte ``cut``; the newcomer takes the rest."""
    rates = [r.rate for r in ranges if r.rate > 0]
    newcomer_rate = statistics.median(rates) if rates else 0.0
    if per_connection_login:
        # Each FTP part costs a login: the tail must be worth at least that.
        min_split = max(min_split, int(newcomer_rate * setup))
    states = [RangeState(r.key, r.pos, r.end, r.rate) for r in ranges]
    victim = choose_victim(states, min_split)
    if victim is None:
        return None
    cut = split_point(victim, newcomer_rate, setup, min_split)
    return None if cut is None else (victim.key, cut)


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
