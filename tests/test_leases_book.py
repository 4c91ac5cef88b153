"""The lease book's promises, over any sequence of events (hypothesis)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from curlmulti_dl.leases.book import LeaseBook

KEY = "h:21"

event = st.one_of(
    st.tuples(st.just("ask"), st.integers(0, 40), st.booleans()),
    st.tuples(st.just("grant"), st.integers(0, 3)),
    st.tuples(st.just("fail"), st.integers(0, 3)),
    st.tuples(st.just("withdraw"), st.integers(0, 40)),
    st.tuples(
        st.just("spare"), st.integers(0, 40), st.integers(0, 40), st.floats(0, 2), st.booleans()
    ),
)


@given(most=st.integers(1, 16), events=st.lists(event, max_size=60))
def test_never_more_than_most_and_never_below_what_is_open_or_needed(
    most: int, events: list[tuple]
) -> None:
    book = LeaseBook(most, keep_spare_for=0.5)
    now = 0.0
    for kind, *args in events:
        if kind == "ask":
            needed, held_down = args
            count = book.to_ask(KEY, needed, held_down=held_down)
            assert count == 0 if held_down else count >= 0
        elif kind in ("grant", "fail"):
            for _ in range(min(args[0], book.asking(KEY))):
                (book.granted if kind == "grant" else book.not_granted)(KEY)
        elif kind == "withdraw":
            count = book.to_withdraw(KEY, args[0])
            assert count <= book.asking(KEY)
            for _ in range(count):
                book.not_granted(KEY)
            assert book.held(KEY) + book.asking(KEY) <= max(book.held(KEY), min(args[0], most))
        else:
            needed, open_now, step, parked = args
            now += step
            spare = book.spare(KEY, needed, now, parked=parked)
            if spare:
                if parked and needed:
                    pytest.fail("a parked host with work gives nothing back")
                count = book.to_give_back(KEY, needed, open_now)
                book.given_back(KEY, count)
                if count:  # what stays covers every open connection and every needed one
                    assert book.held(KEY) >= max(min(needed, most), open_now)
        assert 0 <= book.held(KEY) <= most
        assert book.held(KEY) + book.asking(KEY) <= most


def test_a_spare_lease_is_kept_a_while_then_given_back_once_its_connection_closed() -> None:
    book = LeaseBook(most=8, keep_spare_for=0.5)
    assert book.to_ask(KEY, needed=3, held_down=False) == 3
    assert book.to_ask(KEY, needed=3, held_down=False) == 0  # asked already
    for _ in range(3):
        book.granted(KEY)
    assert book.spare(KEY, needed=1, now=10.0, parked=False) == 0  # spare from now
    assert book.spare(KEY, needed=1, now=10.4, parked=False) == 0
    assert book.spare(KEY, needed=1, now=10.6, parked=False) == 2
    assert book.to_give_back(KEY, needed=1, open_connections=3) == 0  # not closed yet
    assert book.to_give_back(KEY, needed=1, open_connections=2) == 1
    book.given_back(KEY, 1)
    assert book.held(KEY) == 2
    assert book.spare(KEY, needed=2, now=11.0, parked=False) == 0  # needed again


def test_a_host_held_down_parks_its_leases_and_asks_for_none() -> None:
    book = LeaseBook(most=8, keep_spare_for=0.0)
    book.to_ask(KEY, needed=4, held_down=False)
    for _ in range(4):
        book.granted(KEY)
    assert book.to_ask(KEY, needed=8, held_down=True) == 0
    assert book.spare(KEY, needed=2, now=1.0, parked=True) == 0  # parked while it has work
    assert book.spare(KEY, needed=0, now=2.0, parked=True) == 4  # no work left: all go
    assert book.give_back_all() == {KEY: 4}
    assert book.hosts() == []


def test_requests_no_longer_called_for_are_withdrawn() -> None:
    book = LeaseBook(most=8, keep_spare_for=0.5)
    book.to_ask(KEY, needed=6, held_down=False)
    book.granted(KEY)
    assert book.to_withdraw(KEY, needed=2) == 4  # 1 held, 1 more wanted
    for _ in range(4):
        book.not_granted(KEY)
    assert book.asking(KEY) == 1
    with pytest.raises(ValueError):
        book.given_back(KEY, 2)
