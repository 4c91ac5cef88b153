"""A file's state machine on its own: events in, actions out. No pycurl, no
loop, no file: a lane's bytes move because the test moves them, and the
clock and the jitter are the test's.

The properties at the end drive it with random event sequences (slots,
bytes, ends, failures, refusals, ticks, back-offs running out) against a
server that serves byte ranges, and check what must hold whatever happens:
every byte of the file is written exactly once by the time it commits, no
action follows ``Resolve`` or ``Stop``, no range is asked again before its
back-off is over, and refusals from a host that serves spend no retry budget.
"""

from __future__ import annotations

import ast
import random
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from curlmulti_dl import (
    ConnectError,
    DestinationExistsError,
    DiskFullError,
    DownloadTimeoutError,
    HTTPStatusError,
    RetriesExhaustedError,
    RetryPolicy,
    TransportError,
)
from curlmulti_dl._config import DownloadOptions
from curlmulti_dl._policy import RebalancePolicy
from curlmulti_dl.files.journal import JournalState
from curlmulti_dl.files.stamps import LocalCopy
from curlmulti_dl.job import actions as act
from curlmulti_dl.job.machine import Ended, FileMachine
from curlmulti_dl.job.rangebook import RangeBook
from curlmulti_dl.job.state import DownloadState
from curlmulti_dl.protocol.probe import ProbeResult
from curlmulti_dl.protocol.urls import parse_origin
from curlmulti_dl.ranges.lane import Ending, Lane
from curlmulti_dl.ranges.plan import ByteRange

URL = "http://127.0.0.1:9/f.bin"
KiB = 1024
MACHINE = Path(__file__).resolve().parent.parent / "src" / "curlmulti_dl" / "job" / "machine.py"


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def machine(
    clock: Clock | None = None,
    *,
    share: int = 4,
    jitter: float = 0.5,
    local_copy: LocalCopy | None = None,
    **options: object,
) -> FileMachine:
    opts = DownloadOptions(**options)  # type: ignore[arg-type]
    clock = clock or Clock()
    book = RangeBook(URL, False, opts, RebalancePolicy(), clock)
    return FileMachine(
        URL, parse_origin(URL), Path("f.bin"), opts, book, share=lambda: share, clock=clock,
        jitter=lambda: jitter, local_copy=local_copy,
    )  # fmt: skip


def probe(size: int, *, ranged: bool = True, etag: str = '"v1"') -> ProbeResult:
    return ProbeResult(size, etag, None, URL, ranged)


def kinds(actions: list[act.Action]) -> list[type]:
    return [type(a) for a in actions]


def started(actions: list[act.Action]) -> Lane:
    [lane] = [a.lane for a in actions if isinstance(a, act.StartRange)]
    return lane


def answer(m: FileMachine, lane: Lane, remote: ProbeResult) -> list[act.Action]:
    """What the write path does with a first answer, then the plan outside libcurl."""
    lane.head_checked = True
    lane.probe_result = remote
    lane.end = m.first_answer(lane, remote)
    lane.natural_end = remote.size
    return [] if lane.halted else m.plan(lane.id)


def deliver(lane: Lane, upto: int | None = None) -> None:
    """The bytes of ``lane`` up to ``upto`` (its end) arrive and are written."""
    lane.head_checked = True
    end = lane.end if upto is None else upto
    assert end is not None
    lane.first_byte_at = lane.first_byte_at or 1.0
    lane.pos = lane.flushed = end


# ------------------------------------------------------------------ examples


def test_the_machine_imports_neither_pycurl_nor_the_engine() -> None:
    imported = set()
    for node in ast.walk(ast.parse(MACHINE.read_text())):
        if isinstance(node, ast.ImportFrom):
            imported.add(("." * node.level) + (node.module or ""))
        elif isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
    assert not any("pycurl" in name or "engine" in name for name in imported), imported


def test_a_stop_before_any_slot_is_one_stop_action_and_only_one() -> None:
    m = machine()
    error = DownloadTimeoutError("gave up", url=URL)
    assert m.fail(error) == [act.Stop(error, keep=False, probe=None)]
    assert m.state is DownloadState.FAILED
    assert m.fail(error) == []  # over: nothing more to do


def test_no_range_starts_before_the_file_is_opened() -> None:
    m = machine()
    assert m.slot_granted() == []
    assert m.state is DownloadState.QUEUED


def test_a_whole_file_in_four_ranges_from_first_answer_to_resolve() -> None:
    clock = Clock()
    m = machine(clock, parts=4, min_part_size=64 * KiB, share=4)
    m.file_opened(None)
    first = started(m.slot_granted())
    assert (first.start, first.end, first.probe) == (0, None, True)
    plan = answer(m, first, probe(1024 * KiB))
    assert first.end == 256 * KiB  # the first range ends where the plan's first part does
    assert kinds(plan) == [act.JournalFrom, act.Reserve] and m.state is DownloadState.RUNNING
    lanes = [first] + [started(m.slot_granted()) for _ in range(3)]
    assert [(lane.start, lane.end) for lane in lanes] == [
        (i * 256 * KiB, (i + 1) * 256 * KiB) for i in range(4)
    ]
    assert m.slot_granted() == []  # four parts, four connections: nothing to split yet
    for lane in lanes[:-1]:
        deliver(lane)
        assert m.transfer_done(Ended(lane.id, Ending.DONE)) == []
    deliver(lanes[-1])
    assert m.transfer_done(Ended(lanes[-1].id, Ending.DONE)) == [
        act.Commit(1024 * KiB, probe(1024 * KiB))
    ]
    clock.now += 2.0
    done = m.committed(Path("f.bin"))
    assert kinds(done) == [act.ReportProgress, act.Resolve]
    result = done[1].result  # type: ignore[union-attr]
    assert (result.size, result.ranges, result.elapsed) == (1024 * KiB, 4, 2.0)


def test_failed_first_requests_are_retried_until_the_budget_is_spent() -> None:
    m = machine(retry=RetryPolicy(attempts=2))
    m.file_opened(None)
    for attempt in range(3):
        lane = started(m.slot_granted())
        assert m.state is DownloadState.PROBING and (lane.start, lane.end) == (0, None)
        refused = ConnectError("connection refused", url=URL, curl_code=7)
        done = m.transfer_done(Ended(lane.id, Ending.FAILED, refused))
        if attempt < 2:
            [retry] = done
            assert isinstance(retry, act.RetryAfter)
            assert retry.rest is None and retry.delay > 0  # the first request, after a back-off
            assert m.retry_due(retry.rest)
            assert m.state is DownloadState.QUEUED and m.wants_connection()
        else:
            # The ended lane is still the file's: it is retired with the rest.
            assert done[:-1] == [act.Retire(lane.id)]
            stop = done[-1]
            assert isinstance(stop, act.Stop) and isinstance(stop.error, RetriesExhaustedError)
            assert not stop.keep  # nothing of a known file is on disk
    assert not m.retry_due(None)  # a back-off that runs out after the end changes nothing


def test_the_back_off_comes_from_the_jitter_it_is_given() -> None:
    delays = []
    for jitter in (0.0, 0.99):
        m = machine(jitter=jitter, retry=RetryPolicy(attempts=3, backoff_factor=1.0))
        m.file_opened(None)
        lane = started(m.slot_granted())
        [retry] = m.transfer_done(Ended(lane.id, Ending.FAILED, TransportError("reset", url=URL)))
        assert isinstance(retry, act.RetryAfter)
        delays.append(retry.delay)
    assert delays[0] < delays[1]


def test_the_time_limit_stops_the_file_on_the_tick() -> None:
    clock = Clock()
    m = machine(clock, max_time=1.0)
    m.file_opened(None)
    lane = started(m.slot_granted())
    assert kinds(m.tick(clock.now + 0.5)) == [act.ReportProgress]
    actions = m.tick(clock.now + 1.5)
    assert actions[0] == act.Retire(lane.id)
    stop = actions[1]
    assert isinstance(stop, act.Stop) and isinstance(stop.error, DownloadTimeoutError)


def test_a_silent_connection_is_retired_and_its_rest_retried() -> None:
    clock = Clock()
    m = machine(clock, parts=2, min_part_size=64 * KiB, stall_timeout=5.0)
    m.file_opened(None)
    first = started(m.slot_granted())
    answer(m, first, probe(512 * KiB))
    second = started(m.slot_granted())
    deliver(second, second.start + 10 * KiB)  # then nothing more
    deliver(first)
    m.transfer_done(Ended(first.id, Ending.DONE))
    m.tick(clock.now)  # the tick sees where it is
    clock.now += 6.0
    actions = m.tick(clock.now)
    assert actions[0] == act.Retire(second.id)
    retry = actions[1]
    assert isinstance(retry, act.RetryAfter)
    assert retry.rest == ByteRange(second.start + 10 * KiB, 512 * KiB)  # from what was written


def test_a_redirect_is_followed_at_once_and_spends_nothing() -> None:
    m = machine(retry=RetryPolicy(attempts=1))
    m.file_opened(None)
    lane = started(m.slot_granted())
    lane.head_checked, lane.redirect = True, "http://127.0.0.1:9/elsewhere/f.bin"
    assert m.transfer_done(Ended(lane.id, Ending.CUT, TransportError("cut", url=URL))) == [
        act.RetryAfter(0.0, None)
    ]
    assert m.retry_due(None)
    again = started(m.slot_granted())
    assert again.url == "http://127.0.0.1:9/elsewhere/f.bin"
    assert m.recovery.policy.failures == 0


def test_a_copy_that_is_the_remote_file_is_skipped() -> None:
    remote = probe(3000)
    copy = LocalCopy(size=3000, mtime=0.0, etag='"v1"')
    m = machine(local_copy=copy)
    m.file_opened(None)
    lane = started(m.slot_granted())
    answer(m, lane, remote)
    assert lane.halted
    done = m.transfer_done(Ended(lane.id, Ending.CUT, TransportError("cut", url=URL)))
    assert kinds(done) == [act.Discard, act.Resolve]
    assert done[-1].result.skipped  # type: ignore[union-attr]


def test_another_file_in_the_way_fails_without_a_retry() -> None:
    copy = LocalCopy(size=10, mtime=0.0, etag=None)
    m = machine(local_copy=copy)
    m.file_opened(None)
    lane = started(m.slot_granted())
    answer(m, lane, probe(3000))
    done = m.transfer_done(Ended(lane.id, Ending.CUT, TransportError("cut", url=URL)))
    stop = done[-1]
    assert isinstance(stop, act.Stop) and isinstance(stop.error, DestinationExistsError)


def test_a_journal_of_another_file_starts_over_from_byte_zero() -> None:
    journal = JournalState(
        url=URL, size=3000, etag='"old"', last_modified=None, durable=(ByteRange(0, 1000),)
    )
    m = machine()
    m.file_opened(journal)
    lane = started(m.slot_granted())
    assert lane.start == 1000 and lane.request.if_range == '"old"'
    answer(m, lane, probe(3000, etag='"new"'))
    done = m.transfer_done(Ended(lane.id, Ending.CUT, TransportError("cut", url=URL)))
    assert done == [act.ResetPart(), act.RetryAfter(0.0, None)]
    assert m.retry_due(None)
    assert started(m.slot_granted()).start == 0


def test_an_empty_file_is_answered_at_the_end_of_its_transfer() -> None:
    m = machine()
    m.file_opened(None)
    lane = started(m.slot_granted())
    for line in (b"HTTP/1.1 200 OK\r\n", b"Content-Length: 0\r\n", b"\r\n"):
        lane.head.feed(line)
    done = m.transfer_done(Ended(lane.id, Ending.DONE))
    assert kinds(done) == [act.JournalFrom, act.Commit]
    assert done[-1] == act.Commit(0, m.book.probe)


def test_a_refusal_from_a_host_that_serves_spends_no_budget() -> None:
    m = machine(retry=RetryPolicy(attempts=1))
    m.file_opened(None)
    for _ in range(5):
        lane = started(m.slot_granted())
        busy = HTTPStatusError("503 Service Unavailable", url=URL, status=503)
        lane.head_checked, lane.error = True, busy
        done = m.transfer_done(Ended(lane.id, Ending.CUT, busy, host_serving=True))
        assert kinds(done) == [act.HoldHost, act.RetryAfter]
        assert m.retry_due(None)
    assert m.recovery.policy.failures == 0


def test_a_split_moves_the_end_of_the_range_that_would_finish_last() -> None:
    clock = Clock()
    m = machine(clock, parts=4, min_part_size=64 * KiB, min_split_size=16 * KiB, share=1)
    m.file_opened(None)
    first = started(m.slot_granted())
    answer(m, first, probe(1024 * KiB))
    assert first.end == 1024 * KiB  # one free slot: the whole file on one connection
    deliver(first, 64 * KiB)
    clock.now += 5.0  # past the warm-up: its rate is known
    lane = started(m.slot_granted())
    assert first.end == lane.start and lane.end == 1024 * KiB  # cut where the new one begins
    assert 64 * KiB < lane.start < 1024 * KiB


# ------------------------------------------------------------------ properties


def _overlap(lane: Lane, span: ByteRange) -> bool:
    return lane.end is not None and lane.start < span.end and span.start < lane.end


@dataclass
class World:
    """Carries out a machine's actions the way the driver would, on a server
    of ranged bytes, and records what the properties check. A lane's bytes
    arrive into its buffer (``pos``) and reach the file (``flushed``, counted
    in ``written``) when the driver writes buffers out: before every event,
    and at the lane's own end."""

    m: FileMachine
    clock: Clock
    size: int
    remote: ProbeResult
    running: dict[int, Lane] = field(default_factory=dict)
    timers: list[tuple[float, ByteRange | None]] = field(default_factory=list)
    written: bytearray = field(default_factory=bytearray)
    over: bool = False
    resolved: bool = False
    kept: act.Stop | None = None
    disk_full: bool = False  # the next write fails
    after_the_end: list[act.Action] = field(default_factory=list)
    early: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.written = bytearray(self.size)

    def perform(self, actions: list[act.Action]) -> None:
        for action in actions:
            if self.over:
                self.after_the_end.append(action)
                continue
            if isinstance(action, act.StartRange):
                self._check_not_early(action.lane)
                self.running[action.lane.id] = action.lane
            elif isinstance(action, act.Retire):
                self.running.pop(action.lane_id, None)
            elif isinstance(action, act.RetryAfter):
                assert action.delay >= 0
                self.timers.append((self.clock.now + action.delay, action.rest))
            elif isinstance(action, act.Commit):
                assert action.size == self.size
                self.perform(self.m.committed(Path("f.bin")))
            elif isinstance(action, (act.Resolve, act.Stop)):
                self.over = True
                self.resolved = isinstance(action, act.Resolve)
                self.kept = action if isinstance(action, act.Stop) and action.keep else None
        self._check_booked()

    def _check_not_early(self, lane: Lane) -> None:
        """No range is asked while a back-off holds its bytes (or, for the
        first request, while the first request waits for its back-off)."""
        for _, rest in self.timers:
            if rest is None and lane.probe:
                self.early.append(f"first request {lane} before its back-off")
            elif rest is not None and _overlap(lane, rest):
                self.early.append(f"{lane} inside {rest} before its back-off")

    def _check_booked(self) -> None:
        """The ledger books as written only bytes that reached the file."""
        ledger = self.m.book.ledger
        if ledger is None:
            return
        for span in ledger.written:
            assert all(self.written[span.start : span.end]), f"{span} booked, never written"
        for lane in self.m.book.active:
            held = ledger.holding(lane)
            assert held is None or held.written <= lane.flushed, (held, lane)

    # ---------------------------------------------------------- the driver's side

    def write_out(self) -> bool:
        """Every running lane's buffer to the file, before an event; a failed
        write fails the file (False)."""
        for lane in list(self.running.values()):
            if lane.error is None and lane.pos > lane.flushed:
                if self.disk_full:
                    self.perform(self.m.fail(DiskFullError("no space left", url=URL)))
                    return False
                self._write(lane)
        return True

    def _write(self, lane: Lane) -> None:
        for offset in range(lane.flushed, lane.pos):
            self.written[offset] += 1
        lane.flushed = lane.pos

    def end(self, lane: Lane, ended: Ended) -> None:
        """libcurl ended ``lane``'s transfer: its buffer is written (unless it
        failed on its side), then the file hears of it."""
        self.running.pop(lane.id, None)
        if lane.error is None and lane.pos > lane.flushed:
            if self.disk_full:
                lane.error = DiskFullError("no space left", url=URL)
            else:
                self._write(lane)
        if self.write_out():
            self.perform(self.m.transfer_done(ended))

    # ---------------------------------------------------------- events

    def play(self, kind: str, pick: int, amount: int) -> None:
        """One drawn event: a slot, bytes, a lane to its end, a failure, a
        refusal, a redirect, time passing, a full disk."""
        if kind == "grant":
            self.grant()
        elif kind == "data":
            self.data(pick, amount)
        elif kind == "all":
            self.data(pick, self.size)
        elif kind in ("fail", "refuse"):
            self.fail(pick, refusal=kind == "refuse")
        elif kind == "redirect":
            self.redirect()
        elif kind == "full":
            self.disk_full = True
        else:
            self.tick((amount % 3000) / 1000)

    def grant(self) -> None:
        if self.m.wants_connection() and self.write_out():
            self.perform(self.m.slot_granted())

    def _pick(self, pick: int) -> Lane | None:
        lanes = list(self.running.values())
        return lanes[pick % len(lanes)] if lanes else None

    def data(self, pick: int, amount: int) -> None:
        """The write path of one running lane: its answer, then bytes."""
        lane = self._pick(pick)
        if lane is None:
            return
        if not lane.head_checked:
            lane.head_checked = True
            if lane.probe:
                lane.probe_result = self.remote
                lane.end = self.m.first_answer(lane, self.remote)
                lane.natural_end = self.size
                if self.write_out():
                    self.perform(self.m.plan(lane.id))  # probe_ready, soon after
        end = lane.end if lane.end is not None else self.size
        if not lane.first_byte_at:
            lane.first_byte_at = self.clock.now
            lane.fresh_connection = True
        lane.pos = min(end, lane.pos + amount)
        if lane.pos == end:
            cut = lane.end is not None and lane.end != lane.natural_end
            lane.reached_end = cut
            ending = Ending.CUT if cut else Ending.DONE
            error = TransportError("write stopped", url=URL) if cut else None
            self.end(lane, Ended(lane.id, ending, error))

    def fail(self, pick: int, refusal: bool) -> None:
        lane = self._pick(pick)
        if lane is None:
            return
        if refusal and lane.pos == lane.start:
            busy = HTTPStatusError("503", url=URL, status=503)
            lane.head_checked, lane.error = True, busy
            spent = self.m.recovery.policy.failures
            self.end(lane, Ended(lane.id, Ending.CUT, busy, host_serving=True))
            assert self.m.recovery.policy.failures == spent, "a refusal spent the budget"
        else:
            self.end(lane, Ended(lane.id, Ending.FAILED, TransportError("reset", url=URL)))

    def redirect(self) -> None:
        """The first request, if one is out, is answered with a redirect."""
        lane = next((lane for lane in self.running.values() if lane.probe), None)
        if lane is not None and not lane.head_checked:
            lane.head_checked, lane.redirect = True, "/moved/f.bin"
            self.end(lane, Ended(lane.id, Ending.CUT, TransportError("cut", url=URL)))

    def tick(self, seconds: float) -> None:
        self.clock.now += seconds
        due = [t for t in self.timers if t[0] <= self.clock.now]
        self.timers = [t for t in self.timers if t[0] > self.clock.now]
        for _, rest in due:
            self.m.retry_due(rest)
        if self.write_out():
            self.perform(self.m.tick(self.clock.now))

    def finish(self) -> None:
        """Let everything run to its end: time passes, every lane delivers."""
        for _ in range(500):
            if self.over:
                return
            self.grant()
            for pick in range(len(self.running)):
                self.data(pick, self.size)
            if self.timers:
                self.tick(max(0.0, min(t[0] for t in self.timers) - self.clock.now) + 0.01)
            elif not self.running:
                self.tick(0.1)
        raise AssertionError(f"never finished: {self.m.state}, running {self.running}")


def _events(*extra: str) -> st.SearchStrategy[list[tuple[str, int, int]]]:
    kinds = st.sampled_from(["grant", "data", "all", "fail", "refuse", "redirect", "tick", *extra])
    return st.lists(st.tuples(kinds, st.integers(0, 7), st.integers(1, 96 * KiB)), max_size=60)


def _machine_for(clock: Clock, **options: object) -> FileMachine:
    m = machine(clock, min_part_size=16 * KiB, min_split_size=8 * KiB, max_redirects=100, **options)
    m.file_opened(None)
    return m


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    size=st.integers(0, 512 * KiB),
    parts=st.integers(1, 6),
    share=st.integers(1, 6),
    jitter=st.floats(0, 0.999),
    events=_events(),
)
def test_any_sequence_of_events_writes_each_byte_exactly_once(
    size: int, parts: int, share: int, jitter: float, events: list[tuple[str, int, int]]
) -> None:
    clock = Clock()
    m = _machine_for(
        clock, share=share, jitter=jitter, parts=parts, stall_timeout=2.0,
        retry=RetryPolicy(attempts=100),
    )  # fmt: skip
    world = World(m, clock, size, probe(size))
    for event in events:
        world.play(*event)
    world.finish()
    assert world.early == []
    assert world.resolved, m.state
    assert set(world.written) <= {1}, "a byte was written twice"
    assert bytes(world.written) == b"\x01" * size, "a byte was never written"
    assert m.book.ledger is not None and m.book.ledger.complete
    assert m.tick(clock.now + 1.0) == [] and m.fail(None) == []  # over: nothing follows


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=_events("full"), attempts=st.integers(0, 3), jitter=st.floats(0, 0.999))
def test_no_action_follows_the_end_and_a_kept_journal_names_only_written_bytes(
    events: list[tuple[str, int, int]], attempts: int, jitter: float
) -> None:
    """With a small budget and a disk that may fill, the file may fail:
    whatever ends it, nothing follows, and what it keeps was written."""
    clock = Clock()
    size = 200 * KiB
    m = _machine_for(
        clock, share=3, jitter=jitter, parts=3, stall_timeout=1.0,
        retry=RetryPolicy(attempts=attempts, backoff_factor=0.5),
    )  # fmt: skip
    world = World(m, clock, size, probe(size))
    for event in events:
        world.play(*event)
        if world.over:
            # Everything the file might still hear once it is over.
            for lane in list(world.running.values()):
                world.perform(m.transfer_done(Ended(lane.id, Ending.FAILED, None)))
            world.perform(m.tick(clock.now + 100))
            world.perform(m.fail(None))
            assert not m.retry_due(None)
            break
    assert world.after_the_end == []
    assert world.early == []
    assert set(world.written) <= {0, 1}, "a byte was written twice"
    if world.kept is not None:  # (its ledger is what the journal is written from)
        assert world.kept.probe is not None and m.book.ledger is not None


def test_the_event_model_reaches_every_move_of_rebalancing() -> None:
    """The properties above are only as good as the moves their events reach:
    seeded runs of the same model split ranges, take quiet tails over and
    replace slow connections, each byte still written exactly once."""
    moves = {"splits": 0, "reconnects": 0, "redirects": 0}
    rng = random.Random(27)
    for _ in range(150):
        clock = Clock()
        size = rng.choice([64, 256, 512]) * KiB
        m = _machine_for(
            clock, share=rng.randint(1, 3), parts=rng.randint(3, 6), stall_timeout=30.0,
            retry=RetryPolicy(attempts=100), jitter=rng.random(),
        )  # fmt: skip
        world = World(m, clock, size, probe(size))
        fast = rng.randrange(8)
        for _ in range(rng.randint(20, 80)):
            kind = rng.choices(["grant", "data", "tick", "redirect", "fail"], [4, 8, 3, 0.3, 0.5])[
                0
            ]
            pick = rng.randrange(8)
            # One lane is fast, the others slow: a slow one is worth replacing.
            amount = 24 * KiB if pick == fast else rng.randint(256, 2 * KiB)
            world.play(kind, pick, amount if kind == "data" else rng.randint(100, 1500))
            if kind == "redirect":
                world.play("data", pick, amount)  # (the redirected request answers)
        redirected = m.redirects.url != URL
        world.finish()
        assert world.resolved and bytes(world.written) == b"\x01" * size
        moves["splits"] += m.book.splits
        moves["reconnects"] += m.book.reconnects
        moves["redirects"] += redirected
    assert all(moves.values()), moves


@pytest.mark.parametrize("ending", list(Ending))
def test_an_unknown_lane_is_ignored(ending: Ending) -> None:
    m = machine()
    m.file_opened(None)
    started(m.slot_granted())
    assert m.transfer_done(Ended(99, ending, None)) == []


def test_a_file_too_small_to_split_does_not_ask_for_the_hosts_free_slots() -> None:
    asked = []

    def share() -> int:
        asked.append(1)
        return 4

    for size, expected in ((64 * KiB, []), (1024 * KiB, [1])):
        asked.clear()
        opts = DownloadOptions(parts=4, min_part_size=128 * KiB)
        book = RangeBook(URL, False, opts, RebalancePolicy(), Clock())
        m = FileMachine(URL, parse_origin(URL), Path("f.bin"), opts, book, share=share)
        m.file_opened(None)
        lane = started(m.slot_granted())
        answer(m, lane, probe(size))
        assert asked == expected
        assert lane.end == (size if not expected else 256 * KiB)
