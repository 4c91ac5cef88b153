"""Policies and the slot limiter: pure values, property-tested."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from curlmulti_dl import DownloadError, RetriesExhaustedError
from curlmulti_dl._policy import (
    RETRY_AFTER_LONGEST,
    RebalancePolicy,
    RetryPolicy,
    parse_retry_after,
)
from curlmulti_dl.schedule.limiter import SlotLimiter


def failure(n: int) -> DownloadError:
    return DownloadError(f"failure {n}", url="http://user:pw@h/x")


@given(
    attempts=st.integers(0, 8),
    factor=st.floats(0, 10),
    cap=st.floats(0, 100),
    jitters=st.lists(st.floats(0, 1, exclude_max=True), min_size=9, max_size=9),
)
def test_retry_budget_and_backoff(
    attempts: int, factor: float, cap: float, jitters: list[float]
) -> None:
    policy = RetryPolicy(attempts=attempts, backoff_factor=factor, backoff_max=cap)
    assert policy.backoff(0.3) == 0.0  # nothing failed yet
    previous_ceiling = 0.0
    for n in range(attempts):
        before = policy
        policy = policy.increment(failure(n))
        assert before.failures == n and policy.failures == n + 1  # a new value each time
        delay = policy.backoff(jitters[n])
        ceiling = min(cap, factor * 2**n)
        assert ceiling / 2 - 1e-9 <= delay <= ceiling + 1e-9
        assert ceiling >= previous_ceiling  # never shrinks
        previous_ceiling = ceiling
    assert policy.remaining == 0
    with pytest.raises(RetriesExhaustedError) as info:
        policy.increment(failure(99))
    assert info.value.last_error.message == "failure 99"
    assert info.value.__cause__ is info.value.last_error
    assert "pw" not in str(info.value)


@given(st.floats(-100, 10_000), st.floats(0, 600))
def test_retry_after_overrides_backoff_within_its_cap(retry_after: float, cap: float) -> None:
    policy = RetryPolicy(retry_after_max=cap).increment(failure(0))
    assert policy.backoff(0.5, retry_after) == min(max(0.0, retry_after), cap)
    ignoring = RetryPolicy(respect_retry_after=False).increment(failure(0))
    assert ignoring.backoff(0.0, retry_after) == ignoring.backoff(0.0)


def test_retry_after_values() -> None:
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert parse_retry_after("soon") is None
    assert RetryPolicy().retries_status(503) and not RetryPolicy().retries_status(404)


def test_retry_after_values_that_used_to_raise() -> None:
    assert parse_retry_after("²") is None  # a digit to str.isdigit, not to float()
    assert parse_retry_after("٣") is None  # an Arabic-Indic three: delta-seconds are ASCII
    assert parse_retry_after("9" * 5000) == RETRY_AFTER_LONGEST  # int() refuses it
    assert parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now=0.0) == RETRY_AFTER_LONGEST
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=2e9) == 0.0  # gone by


@given(
    st.one_of(
        st.text(),
        st.from_regex(r"\A\s*[0-9]{1,30}\s*\Z"),
        st.from_regex(
            r"\A[A-Za-z]{3}, [0-9]{1,2} [A-Za-z]{3} [0-9]{1,5} "
            r"[0-9]{2}:[0-9]{2}:[0-9]{2} [A-Z0-9+-]{1,5}\Z"
        ),
    ),
    st.floats(0, 4e9),
)
def test_any_retry_after_is_seconds_or_none(value: str, now: float) -> None:
    seconds = parse_retry_after(value, now=now)
    assert seconds is None or 0.0 <= seconds <= RETRY_AFTER_LONGEST
    if value.strip().isascii() and value.strip().isdigit():
        assert seconds == min(float(value.strip()), RETRY_AFTER_LONGEST)


def test_bad_policies_are_refused() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(attempts=-1)
    for wait in (-1.0, float("nan")):
        with pytest.raises(ValueError):
            RetryPolicy(retry_wait_max=wait)
    with pytest.raises(ValueError):
        RebalancePolicy(slow_factor=1.5)
    with pytest.raises(ValueError):
        RebalancePolicy(check_every=0)


@given(st.lists(st.tuples(st.sampled_from(["acquire", "release", "resize"]), st.integers(0, 6))))
def test_limiter_never_over_its_limit_for_newcomers(ops: list[tuple[str, int]]) -> None:
    limiter = SlotLimiter(3)
    held: set[int] = set()
    for op, n in ops:
        if op == "acquire" and n not in held:
            room = len(held) < limiter.total
            assert limiter.try_acquire(n) == room
            if room:
                held.add(n)
        elif op == "release":
            if n in held:
                limiter.release(n)
                held.discard(n)
            else:
                with pytest.raises(RuntimeError):
                    limiter.release(n)  # only a holder releases
        elif op == "resize":
            limiter.total = n + 1  # lowering lets holders finish; admits nobody new
        stats = limiter.statistics()
        assert set(stats.borrowers) == held and stats.borrowed == len(held)
        assert limiter.available == max(0, limiter.total - len(held))
