"""What a failed range calls for: try its unwritten bytes again after a
back-off, or fail the file. Pure: the facts of the failure go in, a verdict
comes out, and the state machine carries it out.

The budget (``RetryPolicy``) is the file's, shared by its ranges, and counts
failures in a row: a connection that delivered bytes and then broke says
nothing of the next one, so it resets the count and is retried at once.

Example::

    recovery = Recovery(RetryPolicy(attempts=3))
    broken = Failure(TransportError("connection reset", url=url))
    recovery.judge(broken, jitter=0.5)   # Verdict(error=None, delay=..., refused=False)
    recovery.policy.remaining            # 2 left
"""

from __future__ import annotations

from dataclasses import dataclass

from .._exceptions import DownloadError, RetriesExhaustedError, StorageError
from .._policy import RetryPolicy, is_refusal, parse_retry_after

__all__ = ["Failure", "Recovery", "Verdict"]


@dataclass(frozen=True)
class Failure:
    """One range's failure as the retry decision sees it."""

    error: DownloadError
    ftp_reply: int | None = None  # the last FTP reply code (None on HTTP)
    ftp_text: str = ""
    retry_after: str | None = None  # the HTTP Retry-After header, as sent
    progressed: bool = False  # it had written bytes the file keeps
    streaming: bool = False  # a stream to EOF of unknown size: nothing to resume from


@dataclass(frozen=True)
class Verdict:
    """``error``: fail the file with it; else retry after ``delay`` seconds.
    ``refused``: the host refused one more connection (hold its limit)."""

    error: DownloadError | None
    delay: float = 0.0
    refused: bool = False


class Recovery:
    """The file's retry budget and the verdicts that spend it."""

    def __init__(self, policy: RetryPolicy) -> None:
        self._initial = policy
        self.policy = policy  # failures so far

    def judge(self, failure: Failure, jitter: float) -> Verdict:
        """The verdict on ``failure``; ``jitter`` in [0, 1) spreads back-offs."""
        error = failure.error
        refused = is_refusal(error, failure.ftp_reply, failure.ftp_text)
        retryable = refused or self.policy.is_retryable(error, failure.ftp_reply)
        if isinstance(error, StorageError) or not retryable or self.policy.attempts == 0:
            return Verdict(error, refused=refused)
        if failure.streaming:
            return Verdict(error, refused=refused)
        if failure.progressed:
            self.policy = self._initial
        try:
            self.policy = self.policy.increment(error)
        except RetriesExhaustedError as exhausted:
            return Verdict(exhausted, refused=refused)
        retry_after = None
        if failure.retry_after is not None:
            retry_after = parse_retry_after(failure.retry_after)
        delay = self.policy.backoff(jitter, retry_after)
        if failure.progressed and retry_after is None:
            delay = 0.0  # it was working: go on at once
        return Verdict(None, delay, refused)
