"""Pure scheduling logic: ranks, the host profile, splits priced in set-up time."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st

from curlmulti_dl.ranges.plan import RangeState
from curlmulti_dl.ranges.rebalance import Running, choose_split, split_saving
from curlmulti_dl.schedule.profile import HostProfile
from curlmulti_dl.schedule.scheduler import Scheduler

MiB = 2**20


@dataclass(eq=False)
class Job:
    name: str
    rank: tuple[int, float]
    host_key: str = "h"


def test_grants_serve_planned_ranges_then_new_files_then_the_slowest_split() -> None:
    scheduler: Scheduler[Job] = Scheduler(max_connections=10, max_host_connections=3)
    jobs = [
        Job("split-soon", (2, -1.0)),
        Job("split-late", (2, -9.0)),
        Job("new", (1, 0.0)),
        Job("planned", (0, 0.0)),
    ]
    for job in jobs:
        scheduler.want(job)
    assert [j.name for j in scheduler.grants(0.0)] == ["planned", "new", "split-late"]


def test_equal_ranks_take_turns() -> None:
    scheduler: Scheduler[Job] = Scheduler(max_connections=10, max_host_connections=1)
    a, b = Job("a", (1, 0.0)), Job("b", (1, 0.0))
    scheduler.want(a)
    scheduler.want(b)
    assert scheduler.grants(0.0) == [a]
    scheduler.want(a)  # it started a transfer and wants another slot
    assert scheduler.grants(0.0) == [b]  # a went to the back of the line
    assert scheduler.grants(0.0) == [a]


def test_a_slot_closed_mid_body_lingers_until_the_server_can_have_seen_it() -> None:
    scheduler: Scheduler[Job] = Scheduler(max_connections=10, max_host_connections=1)
    a, b = Job("a", (1, 0.0)), Job("b", (1, 0.0))
    scheduler.want(a)
    scheduler.want(b)
    assert scheduler.grants(0.0) == [a]
    assert scheduler.acquire(a, "conn-a")
    scheduler.release(a, "conn-a", linger=0.2, now=1.0)
    assert scheduler.grants(1.1) == []  # the server may still count it
    assert scheduler.grants(1.2) == [b]
    assert scheduler.acquire(b, "conn-b")
    scheduler.release(b, "conn-b")  # a clean end frees the slot at once
    assert scheduler.host("h").available == 1 and scheduler.total.available == 10


def test_lingering_slots_neither_serve_nor_keep_a_refusing_host_at_its_limit() -> None:
    # Refused connections closed mid-body linger at the server, but they do
    # not serve: the host is held to the connections really open, and a host
    # whose only connections linger is not "serving" (its refusals count).
    scheduler: Scheduler[Job] = Scheduler(max_connections=10, max_host_connections=4)
    jobs = [Job(str(n), (1, 0.0)) for n in range(4)]
    for job in jobs:
        scheduler.want(job)
    for job in scheduler.grants(0.0):
        assert scheduler.acquire(job, f"conn-{job.name}")
    for job in jobs[1:]:
        scheduler.release(job, f"conn-{job.name}", linger=0.5, now=1.0)
    assert scheduler.serving("h", 1.0, within=0.0)
    scheduler.hold("h", 1.0)
    assert scheduler.host("h").total == 1
    scheduler.release(jobs[0], "conn-0", linger=0.5, now=1.0)
    assert not scheduler.serving("h", 1.1, within=0.0)
    assert scheduler.grants(1.6) == [] and scheduler.host("h").available == 1


def test_a_grant_does_not_sort_the_queue_of_new_files() -> None:
    # Thousands of files waiting for their first slot are served in order,
    # and a grant looks only at the first of them.
    asked = []

    class Counted:
        host_key = "h"

        @property
        def rank(self) -> tuple[int, float]:
            asked.append(self)
            return (1, 0.0)

    scheduler: Scheduler[Counted] = Scheduler(max_connections=100, max_host_connections=4)
    queued = [Counted() for _ in range(20_000)]
    for job in queued:
        scheduler.want(job)
    asked.clear()
    assert scheduler.grants(0.0) == queued[:4]
    assert asked == []  # no rank of a new file was read, none sorted
    assert scheduler.new_waiting("h") == 20_000 - 4


def test_profile_prices_a_split_at_the_dearer_set_up() -> None:
    profile = HostProfile()
    assert profile.split_cost == 0.0
    profile.observe_setup(0.3, fresh=False)
    assert profile.split_cost == 0.3
    profile.observe_setup(1.2, fresh=True)
    assert profile.split_cost == 1.2
    profile.observe_setup(0.2, fresh=True)  # a moving average, not the last sample
    assert 0.3 < profile.fresh_setup < 1.2  # type: ignore[operator]


def test_profile_prices_a_split_at_a_cached_session_while_one_waits() -> None:
    profile = HostProfile()
    profile.observe_setup(1.1, fresh=True)
    profile.session_kept()
    assert profile.split_cost == 0.55  # not measured yet: half a new one's
    profile.observe_setup(0.4, fresh=False)
    profile.session_kept()
    profile.session_kept()
    assert profile.split_cost == 0.4
    profile.session_taken()
    assert profile.split_cost == 0.4  # one still waits
    profile.session_taken()
    profile.session_taken()  # never below none
    assert profile.idle_sessions == 0 and profile.split_cost == 1.1
    profile.session_kept()
    profile.no_idle_sessions()  # a transfer had to connect: the count was wrong
    assert profile.split_cost == 1.1


def running(key: int, pos: int, end: int, rate: float, first_byte_at: float = 1.0) -> Running:
    return Running(key, pos, end, rate, first_byte_at, pos, 0.0)


def test_far_tail_is_split_only_while_it_pays() -> None:
    # 100 ms round trips: a new FTP session waits 1.2 s for its first byte.
    rate, setup = 2 * MiB, 1.2
    choice = choose_split([running(0, 0, 12 * MiB, rate)], setup, 256 * 1024)
    assert choice is not None
    # Both finish together: the newcomer's 1.2 s are made up by the victim.
    assert abs(choice[1] / rate - (setup + (12 * MiB - choice[1]) / rate)) < 0.01
    # 3 MiB left: a split would save 0.15 s, less than the session costs.
    assert choose_split([running(0, 0, 3 * MiB, rate)], setup, 256 * 1024) is None


def test_unstarted_range_is_cut_in_the_middle() -> None:
    # A range still waiting for its first byte waits as long as a newcomer.
    ranges = [running(0, 0, 4 * MiB, 2 * MiB), running(1, 4 * MiB, 12 * MiB, 0.0, 0.0)]
    assert choose_split(ranges, 1.0, 256 * 1024) == (1, 8 * MiB)


views = st.builds(
    lambda pos, length, rate, first_byte_at: (pos, pos + length, rate, first_byte_at),
    st.integers(0, 1 << 32),
    st.integers(0, 1 << 30),
    st.floats(0, 1e9, allow_nan=False),
    st.sampled_from([0.0, 1.0, 5.0]),  # not started, settled, just started
)


@given(st.lists(views, max_size=12), st.floats(0, 30), st.integers(1, 1 << 24))
def test_a_split_keeps_every_byte_and_pays_for_its_set_up(
    drawn: list[tuple[int, int, float, float]], setup: float, min_split: int
) -> None:
    ranges = [running(i, *view) for i, view in enumerate(drawn)]
    choice = choose_split(ranges, setup, min_split, settled_before=2.0)
    if choice is None:
        return
    key, cut = choice
    victim = ranges[key]
    assert victim.pos + min_split <= cut <= victim.end - min_split
    settled = [r.rate for r in ranges if r.rate >= 1 and 0 < r.first_byte_at <= 2.0]
    rates = sorted(settled or [r.rate for r in ranges if r.rate >= 1])
    if not rates:
        return  # nothing measured yet: the middle, whatever it saves
    median = (rates[(len(rates) - 1) // 2] + rates[len(rates) // 2]) / 2
    trusted = victim.rate >= 1 and 0 < victim.first_byte_at <= 2.0
    state = RangeState(key, victim.pos, victim.end, victim.rate if trusted else median)
    wait = setup if victim.first_byte_at else 0.0
    assert split_saving(state, cut, median, wait) >= setup * (1 - 1e-9)
