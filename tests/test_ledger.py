"""The range ledger under any sequence of operations: every byte covered
exactly once, durable never ahead of written."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from curlmulti_dl.ranges.ledger import LedgerError, RangeLedger, SpanSet
from curlmulti_dl.ranges.plan import ByteRange


@given(st.lists(st.tuples(st.booleans(), st.integers(0, 60), st.integers(0, 60)), max_size=40))
def test_span_set_matches_a_plain_set(ops: list[tuple[bool, int, int]]) -> None:
    spans = SpanSet()
    model: set[int] = set()
    for add, a, b in ops:
        start, end = min(a, b), max(a, b)
        if add:
            spans.add(start, end)
            model |= set(range(start, end))
        else:
            spans.remove(start, end)
            model -= set(range(start, end))
        as_set = {i for span in spans for i in range(span.start, span.end)}
        assert as_set == model
        listed = list(spans)
        # Sorted, disjoint and never touching: one span per run of bytes.
        assert all(x.end < y.start for x, y in itertools.pairwise(listed))
        assert spans.total == len(model)
        for probe in range(0, 60, 7):
            assert spans.contains(probe, probe + 3) == (set(range(probe, probe + 3)) <= model)


class LedgerMachine(RuleBasedStateMachine):
    """Transfers take, cut, write, fail and finish in any order."""

    def __init__(self) -> None:
        super().__init__()
        self.size = 0
        self.ledger = RangeLedger(0)
        self.next_key = 0
        self.synced_before: SpanSet | None = None

    @rule(size=st.integers(0, 500))
    @precondition(lambda self: self.next_key == 0)
    def start(self, size: int) -> None:
        self.size = size
        self.ledger = RangeLedger(size)

    @rule(limit=st.one_of(st.none(), st.integers(1, 200)))
    def take(self, limit: int | None) -> None:
        key = self.next_key
        self.next_key += 1
        taken = self.ledger.take(key, limit)
        if taken is not None:
            assert taken.length > 0 and (limit is None or taken.length <= limit)

    @rule(data=st.data())
    def write_some(self, data: st.DataObject) -> None:
        held = self.ledger.assigned
        if not held:
            return
        key = data.draw(st.sampled_from(sorted(held)))
        a = held[key]
        self.ledger.record_written(key, data.draw(st.integers(a.written, a.end)))

    @rule(data=st.data())
    def cut_and_hand_over(self, data: st.DataObject) -> None:
        held = self.ledger.assigned
        if not held:
            return
        key = data.draw(st.sampled_from(sorted(held)))
        a = held[key]
        rest = self.ledger.cut(key, data.draw(st.integers(a.written, a.end)))
        if rest is not None and data.draw(st.booleans()):
            self.ledger.assign(self.next_key, rest)
            self.next_key += 1

    @rule(data=st.data())
    def fail(self, data: st.DataObject) -> None:
        held = self.ledger.assigned
        if held:
            self.ledger.release(data.draw(st.sampled_from(sorted(held))))

    @rule()
    def finish_complete_ones(self) -> None:
        for key, a in self.ledger.assigned.items():
            if a.written == a.end:
                self.ledger.finish(key)

    @rule(data=st.data())
    def bad_operations_are_refused(self, data: st.DataObject) -> None:
        held = self.ledger.assigned
        if held:
            key = data.draw(st.sampled_from(sorted(held)))
            a = held[key]
            if a.written < a.end:
                with pytest.raises(LedgerError):
                    self.ledger.finish(key)
            with pytest.raises(LedgerError):
                self.ledger.record_written(key, a.end + 1)
        written = list(self.ledger.written)
        if written:
            span = written[0]
            with pytest.raises(LedgerError):
                self.ledger.assign(-1, span)  # already written: not pending

    @rule()
    def sync_begins(self) -> None:
        self.synced_before = self.ledger.written.copy()

    @rule()
    @precondition(lambda self: self.synced_before is not None)
    def sync_ends(self) -> None:
        assert self.synced_before is not None
        self.ledger.mark_durable(self.synced_before)
        self.synced_before = None

    @invariant()
    def every_byte_exactly_once(self) -> None:
        owners = [0] * self.size
        for span in self.ledger.pending:
            for i in range(span.start, span.end):
                owners[i] += 1
        for span in self.ledger.written:
            for i in range(span.start, span.end):
                owners[i] += 1
        for a in self.ledger.assigned.values():
            assert a.start <= a.written <= a.end
            for i in range(a.written, a.end):
                owners[i] += 1
        assert owners == [1] * self.size

    @invariant()
    def durable_never_ahead_of_written(self) -> None:
        for span in self.ledger.durable:
            assert self.ledger.written.contains(span.start, span.end)

    @invariant()
    def complete_means_all_written(self) -> None:
        assert self.ledger.complete == (self.ledger.bytes_written == self.size)


LedgerMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=40)
test_ledger_machine = LedgerMachine.TestCase


def test_example_from_docstring() -> None:
    ledger = RangeLedger(100)
    assert ledger.take("a") == ByteRange(0, 100)
    rest = ledger.cut("a", 50)
    assert rest == ByteRange(50, 100)
    ledger.assign("b", rest)
    ledger.record_written("a", 50)
    ledger.finish("a")
    ledger.record_written("b", 80)
    assert ledger.release("b") == ByteRange(80, 100)
    assert ledger.bytes_written == 80 and not ledger.complete
