"""One range on one connection, as plain data: what a file's decisions asked
(``request``) and what its transfer has done so far.

A file's state machine (``job.machine``) makes a ``Lane`` for each range it
starts; the engine's transfer is given it and records in it where the bytes
are (``pos`` received, ``flushed`` written) from libcurl's write callback,
and reads ``end`` there, so that a split takes effect at once. Everything
else reaches the machine as events. Nothing here does I/O: a test moves
``pos`` itself.

``read_answer`` is the check of a response before its first byte is
written, on the facts its headers (or FTP replies, or SFTP stat) gave.

Example::

    lane = Lane(1, RangeRequest("http://h/f", 0, 100, is_ftp=False))
    lane.pos = lane.flushed = 40      # what the write path did
    lane.rate(now=lane.first_byte_at + 1.0)
"""

from __future__ import annotations

import enum

from .._exceptions import DownloadError, ProtocolError
from ..protocol.headers import FtpReplies, ResponseHead
from ..protocol.probe import ProbeResult, RangeExpectation, probe_from_ftp, probe_from_http
from ..protocol.redirects import location_of
from ..protocol.request import RangeRequest

__all__ = ["Ending", "Lane", "read_answer"]


class Ending(enum.Enum):
    """How libcurl ended a transfer, in the project's terms."""

    DONE = "done"  # cleanly (libcurl's code 0)
    CUT = "cut"  # our write callback stopped it (a range's end, a full disk, a bad answer)
    NOT_FOUND = "not found"  # the server has no such file (FTP 550 to RETR)
    FAILED = "failed"  # any other error (``error`` says which)


class Lane:
    """Bytes ``[start, end)`` of one file on one connection.

    ``end`` is None while the size is unknown (one stream to EOF);
    ``natural_end`` is where the server stops by itself: reaching ``end``
    before it means a split cut this range short.
    """

    __slots__ = (
        "added_at", "end", "error", "expect", "first_byte_at", "flushed", "fresh_connection",
        "halted", "head", "head_checked", "held_until", "id", "listing_refused", "natural_end",
        "pos", "probe", "probe_result", "reached_end", "redirect", "replacements", "replies",
        "request", "seen_at", "seen_pos", "setup_noted", "start", "stat_mtime", "stat_size",
    )  # fmt: skip

    def __init__(
        self,
        id: int,
        request: RangeRequest,
        *,
        expect: RangeExpectation | None = None,
        replacements: int = 0,
    ) -> None:
        self.id = id
        self.request = request
        self.start = self.pos = self.flushed = request.start
        self.end = request.end
        self.natural_end = request.end
        self.probe = request.probe
        self.expect = expect  # what a later range's answer must match
        self.replacements = replacements  # how often this range moved off a slow connection
        self.head = ResponseHead(request.url)
        # After REST, "(N bytes)" in the RETR reply may count what is left.
        self.replies = FtpReplies(take_announced=not request.start)
        self.probe_result: ProbeResult | None = None
        self.head_checked = False  # the answer was checked (before its first byte is written)
        self.error: DownloadError | None = None  # what the transfer failed with, on its side
        self.redirect: str | None = None  # the first answer was a redirect to here
        self.listing_refused: bool | None = None  # MLST was of no use (True: not understood)
        self.halted = False  # the file's decisions stopped it at its first answer
        self.reached_end = False  # it stopped at ``end`` by itself
        self.added_at = 0.0
        self.first_byte_at = 0.0
        self.held_until = 0.0  # the rate limit holds it back until then: not a stall
        # Where the tick last saw ``pos`` move, and when (quiet tails).
        self.seen_pos = request.start
        self.seen_at = 0.0
        self.setup_noted = False  # its set-up time went into the host's profile
        self.fresh_connection: bool | None = None  # a new connection (None: not known yet)
        self.stat_size: int | None = None  # SFTP: the stat's answers, after its end
        self.stat_mtime: int | None = None

    def __repr__(self) -> str:
        return f"Lane({self.id}, {self.start}-{self.end}, pos={self.pos})"

    @property
    def url(self) -> str:
        return self.request.url

    @property
    def is_ftp(self) -> bool:
        return self.request.is_ftp

    @property
    def is_sftp(self) -> bool:
        return self.request.is_sftp

    @property
    def probe_pending(self) -> bool:
        """The first request, before its answer was checked: its end is not
        known to the plan yet."""
        return self.probe and not self.head_checked

    @property
    def answered_aside(self) -> bool:
        """Its answer was no data of the file's: a redirect, an MLST of no
        use, or a first answer the file's decisions stopped."""
        return self.redirect is not None or self.listing_refused is not None or self.halted

    def rate(self, now: float) -> float:
        """Bytes per second since the first byte (0 until there is a measure)."""
        if not self.first_byte_at:
            return 0.0
        span = now - self.first_byte_at
        return (self.pos - self.start) / span if span > 0.05 else 0.0

    def served(self, ending: Ending) -> bool:
        """Whether the server served this request: bytes of the file came,
        or it ended cleanly with an answer that is no HTTP error. A 429 with
        an empty body ends cleanly too, and is a refusal all the same."""
        if self.pos > self.start:
            return True
        status = self.head.status
        plain = self.is_ftp or self.is_sftp
        return ending is Ending.DONE and (plain or (status is not None and status < 400))


def read_answer(lane: Lane) -> ProbeResult | None:
    """Check ``lane``'s answer before its first byte is written: raises a
    ``DownloadError`` if it is not our bytes of our file. A first request's
    answer becomes the file's ``ProbeResult`` (None for a later range, or
    for a redirect, which is noted in ``lane.redirect``)."""
    url = lane.url
    if lane.is_ftp and lane.replies.bad is not None:
        raise ProtocolError(lane.replies.bad.message, url=url)
    expect = lane.expect
    if expect is not None:
        if lane.is_ftp:
            expect.check_ftp(lane.replies, url)
        elif not lane.is_sftp:  # (an SFTP range's date is compared at its end)
            expect.check(lane.head, url)
        return None
    if not lane.probe:
        return None
    if lane.is_ftp:
        # SIZE and MDTM came in this very session: no separate probe login.
        return probe_from_ftp(lane.replies.size, lane.replies.mtime, url)
    if lane.is_sftp:
        return probe_from_ftp(lane.stat_size, lane.stat_mtime, url)
    location = location_of(lane.head)
    if location is not None:
        lane.redirect = location
        return None
    return probe_from_http(lane.head, url, lane.start)
