"""The retry verdicts of one file (job.recovery): pure, property-tested."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from curlmulti_dl import (
    DiskFullError,
    DownloadTimeout,
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
        DownloadTimeout("no data for 60 s", url=URL),
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


@given(st.sampled_from([429, 503]), st.integers(0, 120), jitters)
def test_a_refusal_holds_the_host_and_waits_as_long_as_asked(
    status: int, seconds: int, jitter: float
) -> None:
    recovery = Recovery(RetryPolicy())
    error = HTTPStatusError(f"HTTP status {status}", url=URL, status=status)
    verdict = recovery.judge(Failure(error, retry_after=str(seconds)), jitter)
    assert verdict.refused
    assert verdict.error is None
    assert verdict.delay == min(seconds, RetryPolicy().retry_after_max)


def test_an_ftp_421_is_a_refusal_and_a_550_is_not() -> None:
    recovery = Recovery(RetryPolicy())
    timeout = DownloadTimeout("timed out", url=URL)
    assert recovery.judge(Failure(timeout, ftp_reply=421), 0.5).refused
    verdict = recovery.judge(Failure(TransportError("cut", url=URL), ftp_reply=550), 0.5)
    assert not verdict.refused
    assert verdict.error is not None  # the file is missing: no retry


def test_a_stream_of_unknown_size_has_no_byte_to_resume_from() -> None:
    error = TransportError("connection reset", url=URL)
    verdict = Recovery(RetryPolicy()).judge(Failure(error, streaming=True), 0.5)
    assert verdict.error is error
