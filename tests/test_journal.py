"""The resume journal's format: what decodes is exactly what was encoded;
anything damaged or foreign decodes to None (property tests)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from curlmulti_dl.files.journal import JournalState, decode, encode
from curlmulti_dl.protocol.probe import ProbeResult
from curlmulti_dl.ranges.plan import ByteRange


@st.composite
def states(draw: st.DrawFn) -> JournalState:
    size = draw(st.integers(1, 1 << 40))
    cuts = sorted(set(draw(st.lists(st.integers(0, size), max_size=12))))
    spans = [ByteRange(a, b) for a, b in zip(cuts[::2], cuts[1::2], strict=False) if a < b]
    # Durable spans are apart (touching ones are one span).
    merged: list[ByteRange] = []
    for span in spans:
        if merged and merged[-1].end >= span.start:
            continue
        merged.append(span)
    text = st.none() | st.text(max_size=40)
    url = draw(st.text(max_size=80))
    return JournalState(url, size, draw(text), draw(text), tuple(merged))


@given(states())
def test_round_trip(state: JournalState) -> None:
    assert decode(encode(state)) == state


@given(states(), st.data())
def test_truncated_journal_is_not_trusted(state: JournalState, data: st.DataObject) -> None:
    raw = encode(state)
    cut = data.draw(st.integers(0, len(raw) - 1))
    assert decode(raw[:cut]) is None


@given(states(), st.data())
def test_any_changed_byte_is_caught(state: JournalState, data: st.DataObject) -> None:
    raw = bytearray(encode(state))
    index = data.draw(st.integers(0, len(raw) - 1))
    value = data.draw(st.integers(0, 255).filter(lambda v: v != raw[index]))
    raw[index] = value
    assert decode(bytes(raw)) in (None, state)  # a digest collision is not a worry


@given(st.binary(max_size=300))
def test_random_bytes_are_not_a_journal(raw: bytes) -> None:
    assert decode(raw) is None


def test_zero_filled_and_foreign_files() -> None:
    state = JournalState("u", 10, None, "d", (ByteRange(0, 4),))
    assert decode(bytes(len(encode(state)))) is None
    assert decode(encode(state).replace(b"journal 1", b"journal 9")) is None
    # Spans must lie inside the file, sorted and apart.
    bad = JournalState("u", 10, None, "d", (ByteRange(0, 4), ByteRange(4, 12)))
    assert decode(encode(bad)) is None


def test_first_missing_and_match() -> None:
    state = JournalState("u", 100, '"e"', None, (ByteRange(0, 30), ByteRange(50, 60)))
    assert state.first_missing() == 30 and state.done == 40
    same = ProbeResult(100, '"e"', "date", "u", ranged=True)
    assert state.matches(same)
    assert not state.matches(ProbeResult(100, '"f"', None, "u", ranged=True))
    assert not state.matches(ProbeResult(101, '"e"', None, "u", ranged=True))
    # Without a validator a size alone does not tell two files apart.
    bare = JournalState("u", 100, None, None, (ByteRange(0, 30),))
    assert not bare.matches(ProbeResult(100, None, None, "u", ranged=True))
