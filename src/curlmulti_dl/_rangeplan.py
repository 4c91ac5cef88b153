"""Planning one file's ranges from its first answer: how many connections it
starts on, which bytes each takes, and, when resuming, the spans still
missing. A mixin of ``RangeBook`` (it fills the book's ledger and queue)."""

from __future__ import annotations

from collections import deque

from ._config import DownloadOptions
from ._ledger import RangeLedger
from ._plan import ByteRange, plan_ranges
from ._probe import ProbeResult
from ._transfer import RangeTransfer

__all__ = ["Planning"]

_EOF_WEIGHT = 0.75  # measured on the far 16 x 24 MiB job (benchmarks/far.py): 0.6-0.85


class Planning:
    """The planning half of ``RangeBook``."""

    options: DownloadOptions
    is_ftp: bool
    probe: ProbeResult | None
    ledger: RangeLedger | None
    queue: deque[ByteRange]
    target: int
    promised: int | None
    restored: tuple[ByteRange, ...]

    def plan(self, size: int, min_part: int, connections: int | None = None) -> list[ByteRange]:
        """The ranges to start on: ``parts`` of them, or ``connections`` if fewer.

        FTP, when the host's slots are shared (fewer ``connections`` than
        ``parts``): the range that runs to EOF is planned a quarter shorter.
        It is the one whose session survives its end (a range stopped mid-file
        loses its session), so it is free early, and without a login, to help
        the files that started on fewer connections.
        """
        count = self.options.parts if connections is None else min(self.options.parts, connections)
        shared = self.is_ftp and connections is not None and connections < self.options.parts
        return plan_ranges(size, max(1, count), min_part, _EOF_WEIGHT if shared else 1.0)

    def apply(self, probe: ProbeResult, min_part: int, first: RangeTransfer) -> None:
        """Plan the file the probe describes; ``first`` already fetches from byte 0
        (to the end, when the size is unknown).

        ``target``, the most connections the file may run on, comes from
        ``parts``; the plan starts on ``promised`` of them (the file's share of
        the host's free slots). Later, free slots split running ranges.
        """
        self.probe = probe
        size = probe.size
        if size is None:
            return
        self.ledger = RangeLedger(size)
        if self.restored:
            self._apply_restored(first)
            return
        if probe.ranged:
            self.target = max(1, len(self.plan(size, min_part)))
            plan = self.plan(size, min_part, self.promised)
        else:  # the whole file is one range (none when it is empty)
            plan = plan_ranges(size, 1, 1)
        self.promised = None
        if plan:
            self.ledger.assign(first, plan[0])
            plan = plan[1:]
        self.queue.extend(plan)

    def _apply_restored(self, first: RangeTransfer) -> None:
        """Resuming: the journal's durable bytes are done; ``first`` takes the
        missing span it starts in, the other missing spans queue (free slots
        split them further)."""
        ledger = self.ledger
        assert ledger is not None
        ledger.restore(self.restored)
        self.target = max(1, len(self.plan(ledger.size, 1)))
        for span in list(ledger.pending):
            if span.start == first.start:
                ledger.assign(first, span)
            else:
                self.queue.append(span)

    def missing_end(self, start: int, size: int) -> int:
        """Where the missing span that begins at ``start`` ends (resuming)."""
        return next((span.start for span in self.restored if span.start > start), size)

    def forget_plan(self) -> None:
        """The plan came from a wrong first answer: back to before it (the
        running transfers were stopped first)."""
        self.probe, self.ledger, self.promised = None, None, None
        self.queue.clear()
        self.target = 1
        self.restored = ()
