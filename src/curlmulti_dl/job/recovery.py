"""What a failed range calls for: try its unwritten bytes again after a
back-off, or fail the file. Pure: the facts of the failure go in, a verdict
comes out, and the state machine carries it out.

The budget (``RetryPolicy``) is the file's, shared by its ranges, and counts
failures in a row: a connection that delivered bytes and then broke says
nothing of the next one, so it resets the count and is retried at once. A
refusal (FTP 421, HTTP 429/503, a refused connect) from a host that serves
this run spends nothing: the range waits for the host's lowered limit.

A 429 or 503 with a ``Retry-After`` is an appointment, serving or not: the
range waits as told (the pause holds the whole host) and spends nothing of
``attempts``; it spends ``retry_wait_max``, the seconds of waiting the file
accepts in a row while it gets no byte. An appointment past what is left of
it fails the file at once, with the server's status.

Example::

    recovery = Recovery(RetryPolicy(attempts=3))
    broken = Failure(TransportError("connection reset", url=url))
    recovery.judge(broken, jitter=0.5)   # Verdict(error=None, delay=..., refused=False)
    recovery.policy.remaining            # 2 left
"""

from __future__ import annotations

from dataclasses import dataclass

from .._exceptions import DownloadError, HTTPStatusError, RetriesExhaustedError, StorageError
from .._policy import RetryPolicy, is_refusal, parse_retry_after

_COULDNT_CONNECT = 7
# A refusal from a host that serves us waits this (to twice this), whatever the
# back-off says (a back-off factor of 0 would ask as fast as the host answers).
_REFUSED_WAIT = 0.25  # libcurl's CURLE_COULDNT_CONNECT
# Retry-After counts whole seconds: a 0 (or a date gone by) waits one, so
# that a server saying 0 again and again is not asked again at once.
_LEAST_WAIT = 1.0

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
    host_serving: bool = False  # the host serves this run (``Scheduler.serving``)
    file_bytes: int = 0  # the file's bytes so far (more since the last wait: a new streak)


@dataclass(frozen=True)
class Verdict:
    """``error``: fail the file with it; else retry after ``delay`` seconds.
    ``refused``: the host refused one more connection (hold its limit), and
    asked for ``pause`` seconds before any new one (Retry-After)."""

    error: DownloadError | None
    delay: float = 0.0
    refused: bool = False
    pause: float = 0.0


class Recovery:
    """The file's retry budget and the verdicts that spend it."""

    def __init__(self, policy: RetryPolicy) -> None:
        self._initial = policy
        self.policy = policy  # failures so far
        self.waited = 0.0  # seconds of Retry-After kept since the file last got bytes
        self._bytes_seen = 0

    def judge(self, failure: Failure, jitter: float) -> Verdict:
        """The verdict on ``failure``; ``jitter`` in [0, 1) spreads back-offs."""
        error = failure.error
        serving = failure.host_serving
        refused = is_refusal(error, failure.ftp_reply, failure.ftp_text)
        # A connection refused by a host that is serving us: its backlog, not its absence.
        refused = refused or (serving and error.curl_code == _COULDNT_CONNECT)
        asked = None
        if failure.retry_after is not None:
            asked = parse_retry_after(failure.retry_after)
        honoured = refused and self.policy.respect_retry_after
        if honoured and asked is not None and isinstance(error, HTTPStatusError):
            return self._appointment(error, asked, failure.file_bytes)
        if refused and serving:
            # Not now, rather than never: back in line outside the budget, once
            # the host has time (its limit is lowered to what it serves), and
            # never at once: a host that refuses all it is asked would be
            # asked again and again as fast as it answers.
            pause = self.policy.backoff(jitter, asked) if asked is not None else 0.0
            pause = max(pause, _REFUSED_WAIT * (1.0 + jitter))
            return Verdict(None, pause, refused=True, pause=pause)
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
        delay = self.policy.backoff(jitter, asked)
        if failure.progressed and asked is None:
            delay = 0.0  # it was working: go on at once
        pause = delay if refused and asked is not None else 0.0
        return Verdict(None, delay, refused, pause)

    def _appointment(self, error: HTTPStatusError, asked: float, file_bytes: int) -> Verdict:
        """The server asked for ``asked`` seconds: wait them, if what is left
        of ``retry_wait_max`` allows, else fail with its status."""
        if file_bytes > self._bytes_seen:  # the file got bytes since the last wait
            self._bytes_seen = file_bytes
            self.waited = 0.0
        wait = max(asked, _LEAST_WAIT)
        budget = self.policy.retry_wait_max
        if self.waited + wait > budget:
            return Verdict(_kept_waiting(error, self.waited, asked, budget), refused=True)
        self.waited += wait
        return Verdict(None, wait, refused=True, pause=wait)


def _kept_waiting(
    error: HTTPStatusError, waited: float, asked: float, budget: float
) -> HTTPStatusError:
    """The last status, saying how long the server wanted us to wait."""
    if waited:
        told = f"the server kept asking to wait ({_secs(waited)} so far, {_secs(asked)} more)"
    else:
        told = f"the server asked to wait {_secs(asked)}"
    failed = HTTPStatusError(
        f"{error.message}: {told}, past the {_secs(budget)} a file waits "
        "(retry_wait_max, --retry-wait-max)",
        url=error.url,
        status=error.status,
    )
    failed.__cause__ = error
    return failed


def _secs(seconds: float) -> str:
    return f"{seconds:g} s" if seconds < 1e5 else f"{seconds:.0f} s"
