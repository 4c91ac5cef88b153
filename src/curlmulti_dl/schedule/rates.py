"""A shared rate limit: one budget of bytes per second for the whole run,
and optionally one per host, that every running transfer draws from.

libcurl's ``MAX_RECV_SPEED_LARGE`` paces each handle alone, by its average
since it started: a new range reads whatever its socket already holds at
once (measured: four 3 MiB files in two ranges each under a 6 MiB/s
"limit" went at 9.8 MiB/s). So the write path asks a token bucket
instead: a chunk that is not due pauses its transfer, which is resumed when
the bucket has refilled, and the server sees the pause as a closed TCP
window. Transfers share by arrival: whoever has bytes takes the next
tokens, so a slow connection leaves its part to the others.

``TokenBucket`` and ``RateGate`` are pure (the time is passed in).

Example::

    gate = RateGate(total=4_000_000)
    gate.admit("host", 65536, now=0.0)  # 0.0: take it now
"""

from __future__ import annotations

import time
from typing import Any, Protocol

from ..engine.transfer import BudgetHooks

__all__ = ["PacedBudget", "RateGate", "TokenBucket"]

BURST = 0.05  # seconds of bytes the bucket may hold when nobody takes them


class TokenBucket:
    """``rate`` bytes per second. A chunk is admitted while the bucket is
    not in debt, and may take it into debt (chunks are libcurl's, up to its
    buffer size); a bucket in debt says how long until it is not."""

    def __init__(self, rate: float, now: float = 0.0) -> None:
        if not rate > 0:
            raise ValueError("a rate limit is a positive number of bytes per second")
        self.rate = float(rate)
        self.capacity = max(16_384.0, self.rate * BURST)
        self._tokens = 0.0
        self._at = now

    def _refill(self, now: float) -> None:
        if now > self._at:
            self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.rate)
            self._at = now

    def wait(self, now: float) -> float:
        """Seconds until a chunk may be taken (0: now)."""
        self._refill(now)
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    def take(self, size: int) -> None:
        self._tokens -= size


class RateGate:
    """``total`` bytes per second in all and ``per_host`` per host (None: no
    such limit)."""

    def __init__(self, total: float | None = None, per_host: float | None = None) -> None:
        self.total = TokenBucket(total) if total is not None else None
        self.per_host = per_host
        if per_host is not None and not per_host > 0:
            raise ValueError("a rate limit is a positive number of bytes per second")
        self._hosts: dict[str, TokenBucket] = {}
        self.tightest = min(r for r in (total, per_host) if r is not None)

    def chunk_size(self, buffer_size: int) -> int:
        """libcurl's receive buffer under this limit: a chunk is what a
        transfer takes from the bucket at once, so at most a sixteenth of a
        second of the tightest limit (and 16 KiB at least)."""
        return int(max(16 << 10, min(buffer_size, self.tightest / 16)))

    def receive_window(self, host_slots: int) -> int:
        """A new connection's kernel receive buffer: a host's share of a
        fifth of a second of the tightest limit, as if all ``host_slots``
        ran (a window for a 200 ms round trip at that share; together the
        first bursts are that fifth of a second), within 64 KiB to 4 MiB.
        Left to autotuning, a paused transfer's socket still takes
        megabytes off the wire at full speed."""
        return int(min(4 << 20, max(64 << 10, self.tightest * 0.2 / host_slots)))

    def admit(self, host: str, size: int, now: float) -> float:
        """0.0 and ``size`` bytes taken from every bucket that applies, or
        the seconds to wait before asking again (nothing taken)."""
        buckets = [self.total] if self.total is not None else []
        if self.per_host is not None:
            bucket = self._hosts.get(host)
            if bucket is None:
                bucket = self._hosts[host] = TokenBucket(self.per_host, now)
            buckets.append(bucket)
        wait = max((b.wait(now) for b in buckets), default=0.0)
        if wait > 0:
            return wait
        for bucket in buckets:
            bucket.take(size)
        return 0.0


class _Resumer(Protocol):
    def hold_for(self, curl: Any, seconds: float) -> None: ...


class PacedBudget:
    """The write path's hooks for one host's transfers under a ``RateGate``:
    the loop budget of ``inner`` (None: none) and the gate's pacing."""

    def __init__(
        self, gate: RateGate, host: str, resumer: _Resumer, inner: BudgetHooks | None
    ) -> None:
        self._gate = gate
        self._host = host
        self._resumer = resumer
        self._inner = inner

    def over_budget(self) -> bool:
        return self._inner is not None and self._inner.over_budget()

    def hold(self, curl: Any) -> None:
        if self._inner is not None:
            self._inner.hold(curl)

    def admit(self, curl: Any, size: int) -> float:
        now = time.monotonic()
        wait = self._gate.admit(self._host, size, now)
        if wait <= 0:
            return 0.0
        self._resumer.hold_for(curl, wait)
        return now + wait
