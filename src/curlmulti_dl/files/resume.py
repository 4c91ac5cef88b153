"""Resume across runs: the journal beside ``NAME.part``, read at the start and
written as the download runs. Whether the remote file is still the journal's
is the first answer's question (``job.firstanswer``).

Ordering is the point: a journal only ever names bytes that were on disk
before it was written. Every ``JOURNAL_SECONDS`` or ``JOURNAL_BYTES`` (which
comes first) the spans written so far are copied, the data is
``fdatasync``ed, and only then is the journal replaced atomically (temporary
file, fsync, rename, directory fsync); all of that in a worker thread. A
crash, ``kill -9`` or power loss thus loses at most one interval. When a
download stops (Ctrl+C, an error) the buffers are written and the journal is
brought up to date before ``NAME.part`` is left for the next run.
"""

from __future__ import annotations

import os

from .._eventloop import Loop, LoopFuture
from ..protocol.probe import ProbeResult
from ..ranges.ledger import RangeLedger, SpanSet
from ..ranges.plan import ByteRange
from .journal import JournalState, decode, encode
from .storage import PartFile

__all__ = ["JOURNAL_BYTES", "JOURNAL_SECONDS", "JournalWriter"]

JOURNAL_SECONDS = 2.0
JOURNAL_BYTES = 32 * 1024 * 1024


class JournalWriter:
    """The journal of one download (``public_url``: its URL without password)."""

    def __init__(self, loop: Loop, public_url: str) -> None:
        self._loop = loop
        self._url = public_url
        self._busy = False
        self._last_at = 0.0
        self._last_bytes = 0
        self._ledger: RangeLedger | None = None

    def load(self, storage: PartFile) -> JournalState | None:
        """The journal beside ``storage``; anything that is not an intact
        journal of this URL with bytes on disk empties ``NAME.part``."""
        raw = storage.read_journal()
        state = decode(raw) if raw is not None else None
        if state is None or state.url != self._url or not state.durable or not state.size:
            storage.start_over()
            return None
        if state.first_missing() >= state.size:
            # All on disk: fetch the last byte again, for the server to vouch
            # that the file is still the same.
            spans = list(state.durable)
            last = spans.pop()
            if last.end - 1 > last.start:
                spans.append(ByteRange(last.start, last.end - 1))
            state = JournalState(
                state.url, state.size, state.etag, state.last_modified, tuple(spans)
            )
        return state

    def attach(self, ledger: RangeLedger) -> None:
        """Journal ``ledger`` from now on (a new plan replaces the old one)."""
        self._ledger = ledger
        self._last_bytes = ledger.durable.total

    def maybe_write(self, now: float, storage: PartFile, probe: ProbeResult) -> None:
        """Every interval: sync the data, then the journal, in a worker thread."""
        ledger = self._ledger
        if ledger is None or self._busy or storage.closed:
            return
        written = ledger.bytes_written
        due = now - self._last_at >= JOURNAL_SECONDS or written - self._last_bytes >= JOURNAL_BYTES
        if not due or written == ledger.durable.total:
            return
        snapshot = ledger.written.copy()
        journal = self._encode(ledger.size, probe, snapshot)
        fd = os.dup(storage.fd)  # a stop may close the file meanwhile
        self._busy, self._last_at, self._last_bytes = True, now, written

        def sync() -> None:
            try:
                storage.sync_then_journal(fd, journal)
            finally:
                os.close(fd)

        work = self._loop.run_in_executor(None, sync)
        work.add_done_callback(lambda done: self._synced(done, ledger, snapshot))

    def _synced(self, done: LoopFuture[None], ledger: RangeLedger, snapshot: SpanSet) -> None:
        self._busy = False
        if not done.cancelled() and done.exception() is None and ledger is self._ledger:
            ledger.mark_durable(snapshot)
        # A failed journal write is not fatal: the last good journal stands,
        # and a full disk fails the download through its data writes anyway.

    def write_now(self, storage: PartFile, probe: ProbeResult) -> bool:
        """At a stop: sync and journal what was written (blocking). Returns
        whether a journal with bytes in it now stands beside ``NAME.part``."""
        ledger = self._ledger
        if ledger is None or storage.closed or not ledger.bytes_written:
            return False
        snapshot = ledger.written.copy()
        try:
            storage.sync_then_journal(storage.fd, self._encode(ledger.size, probe, snapshot))
        except OSError:
            return False
        ledger.mark_durable(snapshot)
        return True

    def _encode(self, size: int, probe: ProbeResult, spans: SpanSet) -> bytes:
        return encode(JournalState(self._url, size, probe.etag, probe.last_modified, tuple(spans)))
