"""Is the first answer the file we want? An existing copy at the destination,
or the resume journal's file, decides what the first request asks and what
its answer must be. Pure: the journal was read by the driver, the answer is
arithmetic on the probe (it is checked inside libcurl's write callback).
"""

from __future__ import annotations

import enum
from pathlib import Path

from .._exceptions import DestinationExistsError
from ..files.journal import JournalState
from ..files.stamps import LocalCopy
from ..protocol.probe import ProbeResult
from ..ranges.plan import ByteRange

__all__ = ["FirstAnswer", "Verdict"]


class Verdict(enum.Enum):
    """What the first answer means for the download."""

    TAKE = "take"  # download it
    ALREADY_THERE = "already there"  # the destination is already the remote file
    START_OVER = "start over"  # the remote file is not the journal's: from byte 0
    IN_THE_WAY = "in the way"  # another file is at the destination


class FirstAnswer:
    """What one file's first answer is checked against.

    Example::

        first = FirstAnswer("https://h/f", Path("f"), local_copy=None)
        first.journal_read(None)       # nothing to resume
        first.start, first.if_range    # (0, None)
    """

    def __init__(self, url: str, path: Path, local_copy: LocalCopy | None) -> None:
        self._url = url  # the public URL: what a journal records
        self._path = path
        self.local_copy = local_copy  # an existing file: skipped if it is the remote one
        self.journal: JournalState | None = None  # a journal to check against the remote
        self.changed = False  # a journal was found but the remote file is another
        self.listing_failed = False  # MLST gave this file nothing: MDTM and SIZE

    def journal_read(self, found: JournalState | None) -> None:
        self.journal = found

    @property
    def start(self) -> int:
        """The first request's first byte: the first missing one when resuming."""
        return self.journal.first_missing() if self.journal is not None else 0

    @property
    def if_range(self) -> str | None:
        """The journal's validator, for the server to vouch for our bytes."""
        found = self.journal
        if found is None:
            return None
        strong = found.etag if found.etag and not found.etag.startswith("W/") else None
        return strong or found.last_modified

    @property
    def may_list(self) -> bool:
        """A new file, whose FTP size and date may come from one MLST: a copy
        or a journal to check wants the classic MDTM date."""
        return self.local_copy is None and self.journal is None and not self.listing_failed

    @property
    def restored(self) -> tuple[ByteRange, ...]:
        """The spans the journal vouched for (resuming), else none."""
        return self.journal.durable if self.journal is not None else ()

    def vet(self, start: int, probe: ProbeResult) -> Verdict:
        """What the answer to a first request from byte ``start`` means."""
        local = self.local_copy
        if local is not None:
            if local.is_copy_of(probe, self._url):
                return Verdict.ALREADY_THERE
            return Verdict.IN_THE_WAY
        found = self.journal
        if found is None:
            return Verdict.TAKE
        # A whole file (a 200 to a range from ``start``) says nothing of our bytes.
        from_start = start == 0 or probe.ranged
        if start == found.first_missing() and from_start and found.matches(probe):
            return Verdict.TAKE
        self.journal, self.changed = None, True
        return Verdict.START_OVER

    def in_the_way(self, url: str) -> DestinationExistsError:
        return DestinationExistsError(
            f"{self._path} already exists and is not the remote file "
            "(overwrite=True or --force replaces it)",
            url=url,
        )
