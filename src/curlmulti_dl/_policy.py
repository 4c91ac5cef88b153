"""Policies as frozen values: how to rebalance, when to retry. Pure.

``RetryPolicy`` follows urllib3's ``Retry``: ``increment`` returns a new policy
(or raises ``RetriesExhaustedError`` carrying every failure, and catchable as
the last one's class) and computing a backoff never sleeps; the caller waits
with ``loop.call_later``.

Example::

    policy = RetryPolicy(attempts=3)
    policy = policy.increment(error)          # one failure recorded
    delay = policy.backoff(random.random())   # seconds to wait, jittered
"""

from __future__ import annotations

import dataclasses
import email.utils
import re
import time
from dataclasses import dataclass, field

from ._exceptions import (
    ConnectError,
    DownloadError,
    DownloadTimeoutError,
    HTTPStatusError,
    RetriesExhaustedError,
    TLSError,
    TransportError,
)

__all__ = [
    "RETRY_AFTER_LONGEST",
    "RebalancePolicy",
    "RetryPolicy",
    "is_refusal",
    "parse_retry_after",
]

# FTP replies that say "not now": service not available (421), no data
# connection (425), connection closed (426), file busy (450), local error (451).
_FTP_TRANSIENT = frozenset({421, 425, 426, 450, 451})
_COULDNT_RESOLVE_HOST = 6
# delta-seconds are ASCII digits ("²".isdigit() is True, and float() refuses it).
_DELTA_SECONDS = re.compile(r"[0-9]+", re.ASCII)
#: The longest wait a Retry-After can ask for (a year): past any budget.
RETRY_AFTER_LONGEST = 365 * 24 * 3600.0
# How servers word "530 too many connections" (vsftpd, proftpd, pure-ftpd, IIS).
_TOO_MANY = re.compile(
    r"too many|maximum|max(imum)? (number of )?(users|clients|connections)", re.I
)


@dataclass(frozen=True)
class RebalancePolicy:
    """How running ranges are moved between connections.

    warmup: seconds of data before a connection's rate is trusted.
    slow_factor: a connection below this share of the others' median rate is
        replaced by a new one (when that pays for its set-up).
    check_every: seconds between looks for a connection worth replacing.
    max_replacements: how often one range may be moved off a slow connection.
    quiet_tail: seconds without a byte (at least; twice the set-up time if
        that is longer) before a free connection takes over a tail too small
        to split.
    """

    warmup: float = 1.0
    slow_factor: float = 0.5
    check_every: float = 0.5
    max_replacements: int = 3
    quiet_tail: float = 0.05

    def __post_init__(self) -> None:
        if not 0 < self.slow_factor < 1:
            raise ValueError("slow_factor must be between 0 and 1")
        if self.warmup < 0 or self.check_every <= 0 or self.quiet_tail <= 0:
            raise ValueError("warmup >= 0, check_every > 0 and quiet_tail > 0 are required")
        if self.max_replacements < 0:
            raise ValueError("max_replacements must be >= 0")


@dataclass(frozen=True)
class RetryPolicy:
    """When and how soon a failed range is fetched again.

    attempts: failures in a row allowed per file (shared by its ranges)
        before giving up; a range that delivered bytes before it failed starts
        the count again (and is fetched again at once), so sporadic cuts in an
        hours-long download never add up to a failure, while a dead server
        does.
    backoff_factor, backoff_max: the n-th retry waits
        ``min(backoff_max, backoff_factor * 2 ** (n - 1))`` seconds, scaled by
        a jitter in [0.5, 1.0) so that many clients do not retry in step.
    retry_statuses: HTTP statuses worth another try (the others fail fast).
    respect_retry_after: a server's ``Retry-After`` overrides the backoff,
        capped at ``retry_after_max``, on the statuses other than 429 and 503;
        on a 429 or 503 it is an appointment that spends none of ``attempts``,
        bounded by ``retry_wait_max`` instead.
    retry_wait_max: seconds of such appointments a file keeps in a row
        (while it gets no byte); one that would pass them fails the file
        with the server's status.
    history: the failures so far, oldest first (for error messages).
    """

    attempts: int = 5
    backoff_factor: float = 0.5
    backoff_max: float = 30.0
    retry_statuses: frozenset[int] = frozenset({408, 425, 429, 500, 502, 503, 504})
    respect_retry_after: bool = True
    retry_after_max: float = 300.0
    retry_wait_max: float = 300.0
    history: tuple[DownloadError, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        if self.attempts < 0:
            raise ValueError("attempts must be >= 0")
        if self.backoff_factor < 0 or self.backoff_max < 0 or self.retry_after_max < 0:
            raise ValueError("backoff times must be >= 0")
        if not self.retry_wait_max >= 0:  # NaN too
            raise ValueError("retry_wait_max must be >= 0")

    @property
    def failures(self) -> int:
        return len(self.history)

    @property
    def remaining(self) -> int:
        return max(0, self.attempts - self.failures)

    def increment(self, error: DownloadError) -> RetryPolicy:
        """The policy after one more ``error``; raises ``RetriesExhaustedError``
        (an instance of ``error``'s class too, with every failure in
        ``attempts``) once the budget is spent."""
        history = (*self.history, error)
        if len(history) > self.attempts:
            raise RetriesExhaustedError(
                f"gave up after {len(history)} failure{'s' if len(history) > 1 else ''}; "
                f"the last: {error.message}",
                last_error=error,
                attempts=history,
            ) from error
        return dataclasses.replace(self, history=history)

    def backoff(self, jitter: float, retry_after: float | None = None) -> float:
        """Seconds to wait before the next try. ``jitter`` is a number in
        [0, 1) (``random.random()``); ``retry_after`` what the server asked for."""
        if retry_after is not None and self.respect_retry_after:
            return min(max(0.0, retry_after), self.retry_after_max)
        if self.failures == 0:
            return 0.0
        base = min(self.backoff_max, self.backoff_factor * 2.0 ** (self.failures - 1))
        return base * (0.5 + 0.5 * min(max(jitter, 0.0), 1.0))

    def retries_status(self, status: int) -> bool:
        return status in self.retry_statuses

    def is_retryable(self, error: DownloadError, ftp_reply: int | None = None) -> bool:
        """Whether ``error`` may pass with time: a cut or refused connection, a
        timeout, a retryable HTTP status, an FTP 4xx reply. A missing file,
        denied access, failed login, TLS failure or changed file fails at once.

        ``ftp_reply`` is the FTP server's last reply code, when there was one:
        libcurl reports a ``421`` greeting as a timeout, and a cut after a
        ``550`` is no cut at all.
        """
        if ftp_reply is not None and ftp_reply >= 500:
            return False  # a 530 "too many connections" is a refusal (is_refusal)
        if ftp_reply in _FTP_TRANSIENT:
            return True
        if isinstance(error, HTTPStatusError):
            return self.retries_status(error.status)
        if isinstance(error, TLSError):
            return False
        if isinstance(error, ConnectError):
            return error.curl_code != _COULDNT_RESOLVE_HOST
        return type(error) in (TransportError, DownloadTimeoutError)


def is_refusal(error: DownloadError, ftp_reply: int | None, ftp_text: str = "") -> bool:
    """Whether the server refused one more connection (it has too many): FTP
    421, or 530 saying so; HTTP 429 or 503. The host's limit should go down."""
    if ftp_reply == 421:
        return True
    if ftp_reply == 530:
        return bool(_TOO_MANY.search(ftp_text))
    return isinstance(error, HTTPStatusError) and error.status in (429, 503)


def parse_retry_after(value: str, now: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` value (delta-seconds or an HTTP date);
    None for anything else. Never raises; at most ``RETRY_AFTER_LONGEST``.

    >>> parse_retry_after("120")
    120.0
    """
    value = value.strip()
    if _DELTA_SECONDS.fullmatch(value):
        # float() of thousands of digits is inf, int() refuses them.
        return min(float(value), RETRY_AFTER_LONGEST)
    try:
        when = email.utils.parsedate_to_datetime(value)
        now = time.time() if now is None else now
        seconds = when.timestamp() - now
    except (TypeError, ValueError, IndexError, OverflowError, OSError):
        return None
    return min(max(0.0, seconds), RETRY_AFTER_LONGEST)
