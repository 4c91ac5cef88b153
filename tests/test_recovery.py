"""The retry verdicts of one file (job.recovery): pure, property-tested."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from curlmulti_dl import (
    DiskFullError,
    DownloadTimeoutError,
    HTTPStatusError,
    RetriesExhaustedError,
    RetryPolicy,
    StorageError,
    TransportError,
)
from curlmulti_dl.job.recovery import Failure, Recovery

URL = "http://127.0.0.1/f.bin"
passing = st.sampled_from(
    [
        TransportError("connection reset", url=URL),
        DownloadTimeoutError("no data for 60 s", url=URL),
        HTTPStatusError("HTTP status 502", url=URL, status=502),
    ]
)
jitters = st.floats(min_value=0.0, max_value=1.0, exclude_max=True)


@given(st.integers(0, 8), st.lists(st.tuples(passing, jitters), min_size=1, max_size=12))
def test_failures_in_a_row_spend_the_budget_then_fail(attempts: int, failures: list) -> None:
    policy = RetryPolicy(attempts=attempts)
    recovery = Recovery(policy)
    for count, (error, jitter) in enumerate(failures, start=1):
        verdict = recovery.judge(Failure(error), jitter)
        if attempts == 0:
            assert verdict.error is error  # no budget: the error itself, at once
            return
        if count > attempts:
            assert isinstance(verdict.error, RetriesExhaustedError)
            assert f"gave up after {count} failures" in verdict.error.message
            return
        assert verdict.error is None
        assert 0.0 <= verdict.delay <= policy.backoff_max
        assert recovery.policy.remaining == attempts - count


@given(st.integers(1, 5), st.lists(st.tuples(passing, jitters), min_size=1, max_size=30))
def test_a_range_that_delivered_never_exhausts_the_budget(attempts: int, failures: list) -> None:
    recovery = Recovery(RetryPolicy(attempts=attempts))
    for error, jitter in failures:
        verdict = recovery.judge(Failure(error, progressed=True), jitter)
        assert verdict.error is None
        assert verdict.delay == 0.0  # it was working: go on at once
        assert recovery.policy.remaining == attempts - 1


@given(st.lists(st.tuples(passing, st.booleans()), max_size=6), jitters)
def test_a_storage_error_fails_at_once_whatever_came_before(history: list, jitter: float) -> None:
    recovery = Recovery(RetryPolicy(attempts=100))
    for error, progressed in history:
        recovery.judge(Failure(error, progressed=progressed), jitter)
    for error in (StorageError("cannot write", url=URL), DiskFullError("disk full", url=URL)):
        assert recovery.judge(Failure(error), jitter).error is error


@given(st.sampled_from([429, 503]), st.integers(0, 120), st.booleans(), jitters)
def test_a_refusal_holds_the_host_and_waits_as_long_as_asked(
    status: int, seconds: int, serving: bool, jitter: float
) -> None:
    recovery = Recovery(RetryPolicy())
    error = HTTPStatusError(f"HTTP status {status}", url=URL, status=status)
    failure = Failure(error, retry_after=str(seconds), host_serving=serving)
    verdict = recovery.judge(failure, jitter)
    assert verdict.refused
    assert verdict.error is None
    assert verdict.delay == verdict.pause == max(seconds, 1)  # 0 waits one second


refusals = st.builds(
    lambda status: HTTPStatusError(f"HTTP status {status}", url=URL, status=status),
    st.sampled_from([429, 503]),
)
# (the refusal, its Retry-After, whether the host serves, bytes the file gained since)
appointments = st.tuples(
    refusals,
    st.one_of(st.integers(0, 400).map(str), st.sampled_from(["1", "0", " 2 ", "99999999999"])),
    st.booleans(),
    st.sampled_from([0, 0, 0, 1, 1000]),
)


@given(
    st.integers(0, 5),
    st.floats(0.0, 600.0),
    st.lists(appointments, min_size=1, max_size=40),
    jitters,
)
def test_retry_after_spends_the_wait_budget_never_the_retries(
    attempts: int, budget: float, answers: list, jitter: float
) -> None:
    policy = RetryPolicy(attempts=attempts, retry_wait_max=budget)
    recovery = Recovery(policy)
    file_bytes = 0
    streak = 0.0  # seconds waited since the file last got bytes
    for error, retry_after, serving, gained in answers:
        if gained:
            file_bytes += gained
            streak = 0.0
        failure = Failure(error, retry_after=retry_after, host_serving=serving,
                          file_bytes=file_bytes)  # fmt: skip
        verdict = recovery.judge(failure, jitter)
        assert recovery.policy.failures == 0  # the retry budget is never spent
        assert verdict.refused
        asked = max(1.0, min(float(retry_after), 365 * 24 * 3600.0))
        if streak + asked > budget:
            # Past the budget: the last status at once, saying it kept asking.
            assert isinstance(verdict.error, HTTPStatusError)
            assert verdict.error.status == error.status
            told = "kept asking to wait" if streak else "asked to wait"
            assert f"{told} " in verdict.error.message
            assert f"past the {budget:g} s a file waits" in verdict.error.message
            assert verdict.error.__cause__ is error
            return
        assert verdict.error is None
        assert verdict.delay == verdict.pause == asked
        streak += asked
        assert recovery.waited == streak <= budget


@given(st.sampled_from([429, 503]), st.integers(0, 30), st.integers(1, 20))
def test_a_host_that_keeps_asking_fails_the_file_once_the_budget_is_passed(
    status: int, seconds: int, budget: int
) -> None:
    recovery = Recovery(RetryPolicy(attempts=0, retry_wait_max=budget))
    error = HTTPStatusError(f"HTTP status {status}", url=URL, status=status)
    waited = 0.0
    for _ in range(budget + 1):
        verdict = recovery.judge(Failure(error, retry_after=str(seconds)), 0.5)
        if verdict.error is not None:
            break
        waited += verdict.delay
    assert isinstance(verdict.error, HTTPStatusError) and verdict.error.status == status
    assert waited <= budget < waited + max(seconds, 1)


def test_without_retry_after_a_refusal_still_spends_the_budget() -> None:
    recovery = Recovery(RetryPolicy(attempts=1, backoff_factor=0.01))
    error = HTTPStatusError("HTTP status 503", url=URL, status=503)
    assert recovery.judge(Failure(error), 0.5).error is None
    assert recovery.policy.failures == 1
    assert isinstance(recovery.judge(Failure(error), 0.5).error, RetriesExhaustedError)
    unreadable = Recovery(RetryPolicy(attempts=1)).judge(Failure(error, retry_after="²"), 0.5)
    assert unreadable.error is None and unreadable.pause == 0.0  # not an appointment


def test_retry_after_not_respected_is_no_appointment() -> None:
    recovery = Recovery(RetryPolicy(attempts=1, respect_retry_after=False, backoff_factor=0.01))
    error = HTTPStatusError("HTTP status 429", url=URL, status=429)
    assert recovery.judge(Failure(error, retry_after="5"), 0.5).delay < 1.0
    assert recovery.policy.failures == 1


def test_an_ftp_421_is_a_refusal_and_a_550_is_not() -> None:
    recovery = Recovery(RetryPolicy())
    timeout = DownloadTimeoutError("timed out", url=URL)
    assert recovery.judge(Failure(timeout, ftp_reply=421), 0.5).refused
    verdict = recovery.judge(Failure(TransportError("cut", url=URL), ftp_reply=550), 0.5)
    assert not verdict.refused
    assert verdict.error is not None  # the file is missing: no retry


def test_a_stream_of_unknown_size_has_no_byte_to_resume_from() -> None:
    error = TransportError("connection reset", url=URL)
    verdict = Recovery(RetryPolicy()).judge(Failure(error, streaming=True), 0.5)
    assert verdict.error is error


@given(jitters)
def test_a_serving_host_that_refuses_is_never_asked_again_at_once(jitter: float) -> None:
    # Outside the budget, but after a back-off: else a host that refuses all
    # it is asked would be asked as fast as it answers.
    for factor in (0.0, 0.5):
        policy = RetryPolicy(attempts=1, backoff_factor=factor)
        error = HTTPStatusError("HTTP status 429", url=URL, status=429)
        verdict = Recovery(policy).judge(Failure(error, host_serving=True), jitter)
        assert verdict.error is None and verdict.refused
        assert 0.25 <= verdict.delay == verdict.pause <= 0.5
