"""Property tests of the pure range planning and rebalancing logic."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from curlmulti_dl.ranges.plan import (
    RangeState,
    choose_victim,
    plan_ranges,
    should_replace,
    split_point,
)

sizes = st.integers(min_value=0, max_value=1 << 40)
parts = st.integers(min_value=1, max_value=64)
min_sizes = st.integers(min_value=1, max_value=1 << 26)


@given(sizes, parts, min_sizes)
def test_plan_covers_file_exactly_once(size: int, n: int, min_part: int) -> None:
    ranges = plan_ranges(size, n, min_part)
    if size == 0:
        assert ranges == []
        return
    assert ranges[0].start == 0
    assert ranges[-1].end == size
    for left, right in itertools.pairwise(ranges):
        assert left.end == right.start
    assert all(r.length >= 1 for r in ranges)
    assert sum(r.length for r in ranges) == size
    assert 1 <= len(ranges) <= n
    if len(ranges) > 1:
        assert min(r.length for r in ranges) >= min_part
        assert max(r.length for r in ranges) - min(r.length for r in ranges) <= 1


@given(sizes, parts, min_sizes, st.floats(0.05, 1.0))
def test_plan_with_a_lighter_last_range(size: int, n: int, min_part: int, weight: float) -> None:
    ranges = plan_ranges(size, n, min_part, weight)
    equal = plan_ranges(size, n, min_part)
    assert len(ranges) == len(equal)  # the weight moves cuts, never the count
    if size == 0:
        assert ranges == []
        return
    assert ranges[0].start == 0 and ranges[-1].end == size
    for left, right in itertools.pairwise(ranges):
        assert left.end == right.start
    assert all(r.length >= min_part or len(ranges) == 1 for r in ranges)
    if len(ranges) > 1 and ranges != equal:
        *firsts, last = (r.length for r in ranges)
        assert max(firsts) - min(firsts) <= 1
        assert abs(last - weight * firsts[0]) <= 2 + weight  # rounding of the cuts


def test_plan_examples() -> None:
    assert [(r.start, r.end) for r in plan_ranges(10, 3, 1)] == [(0, 4), (4, 7), (7, 10)]
    assert len(plan_ranges(3, 8, 1)) == 3  # smaller than parts: one byte each
    assert len(plan_ranges(5 * 2**20, 8, 2**20)) == 5
    with pytest.raises(ValueError):
        plan_ranges(10, 0, 1)
    with pytest.raises(ValueError):
        plan_ranges(10, 2, 1, last_weight=0)
    shorter = plan_ranges(24 * 2**20, 2, 2**20, 0.75)
    assert abs(shorter[1].length * 4 - shorter[0].length * 3) <= 4  # 13.71 MiB + 10.29 MiB


range_states = st.builds(
    lambda pos, length, rate: (pos, pos + length, rate),
    st.integers(0, 1 << 34),
    st.integers(0, 1 << 30),
    st.floats(0, 1e9, allow_nan=False),
)


@given(range_states, st.floats(0, 1e9, allow_nan=False), st.floats(0, 30), min_sizes)
def test_split_keeps_every_byte_once(
    state: tuple[int, int, float], newcomer: float, setup: float, min_split: int
) -> None:
    pos, end, rate = state
    victim = RangeState(0, pos, end, rate)
    cut = split_point(victim, newcomer, setup, min_split)
    if cut is None:
        return
    # [pos, cut) stays, [cut, end) moves: adjacent, both non-empty and worth it.
    assert pos < cut < end
    assert cut - pos >= min_split
    assert end - cut >= min_split


@given(st.integers(1, 1 << 30), st.floats(1, 1e9), st.floats(1, 1e9))
def test_split_balances_finish_times(remaining: int, rv: float, rn: float) -> None:
    assume(remaining > 1000)
    victim = RangeState(0, 0, remaining, rv)
    cut = split_point(victim, rn, 0.0, 1)
    assert cut is not None
    # Without set-up cost both sides finish within a few bytes' time of each other,
    # unless the victim's share hit the minimum.
    if 1 < cut < remaining - 1:
        assert abs(cut / rv - (remaining - cut) / rn) <= 3 / min(rv, rn)


def test_slow_victim_keeps_less() -> None:
    victim = RangeState(0, 0, 1000, 1.0)
    cut = split_point(victim, 4.0, 0.0, 1)
    assert cut == 200  # 4x slower: keeps a fifth


def test_split_refuses_small_ranges() -> None:
    assert split_point(RangeState(0, 0, 100, 1.0), 1.0, 0.0, 50) is None
    assert split_point(RangeState(0, 0, 101, 1.0), 1.0, 0.0, 50) == 50


@given(st.lists(range_states, max_size=20), min_sizes)
def test_victim_is_the_last_to_finish(states: list[tuple[int, int, float]], min_split: int) -> None:
    ranges = [RangeState(i, p, e, r) for i, (p, e, r) in enumerate(states)]
    victim = choose_victim(ranges, min_split)
    eligible = [r for r in ranges if r.remaining > 2 * min_split]
    if not eligible:
        assert victim is None
        return
    assert victim in eligible

    def eta(r: RangeState) -> float:
        return r.remaining / r.rate if r.rate > 0 else 0.0

    assert eta(victim) == max(eta(r) for r in eligible)


@given(range_states, st.floats(0, 1e9, allow_nan=False), st.floats(0, 30), min_sizes)
def test_replace_only_when_it_saves_time(
    state: tuple[int, int, float], others: float, setup: float, min_split: int
) -> None:
    pos, end, rate = state
    victim = RangeState(0, pos, end, rate)
    if should_replace(victim, others, setup, min_split):
        assert rate < 0.5 * others
        assert victim.remaining / rate > setup + victim.remaining / others + setup


def test_replace_examples() -> None:
    slow = RangeState(0, 0, 100 * 2**20, 1 * 2**20)
    assert should_replace(slow, 8 * 2**20, 0.1, 2**18)
    assert not should_replace(slow, 1.5 * 2**20, 0.1, 2**18)  # not slow enough
    assert not should_replace(RangeState(0, 0, 2**19, 1.0), 8.0, 0.0, 2**18)  # too little left
