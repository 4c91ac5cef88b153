"""What a file's state machine asks its driver to do. Values only.

The machine decides; the driver (``job.driver``) carries out each
action in order. An action that touches the file on disk may fail with a
``StorageError``: the driver then hands the error to the machine's ``fail``
and drops the actions after it, which assumed it had worked. Transfers are
named by their lane (``ranges.lane``): the driver makes and ends the
transfer that runs each one.
"""

from __future__ import annotations

from dataclasses import dataclass

from .._exceptions import DownloadError
from .._progress import DownloadResult
from ..protocol.integrity import Checksum
from ..protocol.probe import ProbeResult
from ..ranges.lane import Lane
from ..ranges.ledger import RangeLedger
from ..ranges.plan import ByteRange

__all__ = [
    "Action",
    "CheckDigests",
    "Commit",
    "Discard",
    "HoldHost",
    "JournalFrom",
    "ReportProgress",
    "Reserve",
    "ResetPart",
    "Resolve",
    "Retire",
    "RetryAfter",
    "StartRange",
    "Stop",
    "WantSlot",
    "WriteJournal",
]


@dataclass(frozen=True)
class StartRange:
    """Start a transfer for ``lane`` (its ``request``) on the slot just granted."""

    lane: Lane


@dataclass(frozen=True)
class Retire:
    """End the transfer of lane ``lane_id``: off libcurl, its slot freed, closed
    (nothing if it has ended already)."""

    lane_id: int


@dataclass(frozen=True)
class RetryAfter:
    """Put ``rest`` (None: the first request) back in line after ``delay`` s."""

    delay: float
    rest: ByteRange | None


@dataclass(frozen=True)
class WantSlot:
    """The file wants a slot again soon (its date query)."""


@dataclass(frozen=True)
class HoldHost:
    """The file's host refused one more connection: hold its limit, and
    open nothing new to it for ``pause`` seconds (its Retry-After)."""

    pause: float = 0.0


@dataclass(frozen=True)
class ResetPart:
    """Empty NAME.part: the download starts again from byte 0."""


@dataclass(frozen=True)
class Reserve:
    """Allocate the file's ``size`` bytes on disk."""

    size: int


@dataclass(frozen=True)
class JournalFrom:
    """Journal ``ledger`` from now on (the plan for the resume journal)."""

    ledger: RangeLedger


@dataclass(frozen=True)
class WriteJournal:
    """Sync the data and write the journal, if one is due (the tick)."""

    now: float
    probe: ProbeResult


@dataclass(frozen=True)
class CheckDigests:
    """Hash the file's ``size`` bytes off the loop; the machine hears the
    outcome through ``digests_checked``."""

    size: int
    expected: tuple[Checksum, ...]


@dataclass(frozen=True)
class Commit:
    """Stamp the file with the remote date and give it its final name; the
    machine hears of success through ``committed``."""

    size: int
    probe: ProbeResult | None


@dataclass(frozen=True)
class Discard:
    """Remove the (empty) NAME.part of our own."""


@dataclass(frozen=True)
class ReportProgress:
    """Give the progress callback a snapshot."""


@dataclass(frozen=True)
class Resolve:
    """The download is over: ``result`` for the caller."""

    result: DownloadResult


@dataclass(frozen=True)
class Stop:
    """The download is over without a file: report ``error`` (None: cancelled,
    nobody left to tell). ``keep``: journal what is on disk and leave
    NAME.part for a later run (if a journal with bytes in it can be written);
    else NAME.part is removed. ``probe`` is the journal's description."""

    error: DownloadError | None
    keep: bool
    probe: ProbeResult | None


Action = (
    StartRange
    | Retire
    | RetryAfter
    | WantSlot
    | HoldHost
    | ResetPart
    | Reserve
    | JournalFrom
    | WriteJournal
    | CheckDigests
    | Commit
    | Discard
    | ReportProgress
    | Resolve
    | Stop
)
