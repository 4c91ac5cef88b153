"""How far the ranges of one file have come: positions seen by the tick,
bytes that reached the file, and set-up times for the host's profile. A
mixin of ``RangeBook``; no I/O (the profile is pure arithmetic).
"""

from __future__ import annotations

from ._ledger import RangeLedger
from ._profile import HostProfile
from ._transfer import RangeTransfer

__all__ = ["RangeProgress"]


class RangeProgress:
    """The progress half of ``RangeBook``."""

    active: list[RangeTransfer]
    ledger: RangeLedger | None
    profile: HostProfile

    def observe(self, now: float) -> None:
        """The tick: note where each range is, and what reached the file."""
        ledger = self.ledger
        for transfer in self.active:
            if transfer.first_byte_at and not transfer.setup_noted:
                self.note_setup(transfer)
            if transfer.pos != transfer.seen_pos:
                transfer.seen_pos, transfer.seen_at = transfer.pos, now
            if ledger is not None and ledger.holding(transfer) is not None:
                ledger.record_written(transfer, transfer.flushed)

    def note_setup(self, transfer: RangeTransfer) -> None:
        """Put ``transfer``'s wait for its first byte into the host's profile."""
        transfer.setup_noted = True
        fresh = transfer.opened_connection()
        if fresh:
            self.profile.no_idle_sessions()  # none waited after all: recount from here
        self.profile.observe_setup(transfer.first_byte_at - transfer.added_at, fresh=fresh)

    def bytes_done(self) -> int:
        ledger = self.ledger
        if ledger is None:
            return sum(t.pos - t.start for t in self.active)
        done = ledger.bytes_written
        for transfer in self.active:
            held = ledger.holding(transfer)
            if held is not None:
                done += transfer.pos - held.written
        return done
