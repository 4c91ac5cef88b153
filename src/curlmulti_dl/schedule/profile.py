"""What a Downloader has measured of each host, to price new connections,
and the FTP commands it takes (``protocol.ftpdialect``). Pure.

A new connection costs its set-up before its first byte: TCP (and TLS)
handshakes, and on FTP a login and several commands, each a round trip. A
connection taken from libcurl's cache costs less (on FTP still a data
connection and a few commands). Splitting a range, or moving it off a slow
connection, pays only when the time saved exceeds what the newcomer spends
before its first byte; ``split_cost`` is that price.

Example::

    profile = HostProfile()
    profile.observe_setup(1.2, fresh=True)
    profile.observe_setup(0.3, fresh=False)
    profile.split_cost  # 1.2: a split may have to log in
    profile.session_kept()
    profile.split_cost  # 0.3: a finished transfer left its session
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..protocol.ftpdialect import FtpDialect

__all__ = ["HostProfile"]

_WEIGHT = 0.3  # of a new sample in the moving averages
_REUSED_PRIOR = 0.5  # a cached connection's set-up, as a share of a new one's


def _average(old: float | None, sample: float) -> float:
    return sample if old is None else old + _WEIGHT * (sample - old)


@dataclass
class HostProfile:
    """Moving averages of a host's set-up times, in seconds (None: not seen yet)."""

    fresh_setup: float | None = None  # connect (+ login) to first byte
    reused_setup: float | None = None  # a cached connection to first byte
    ftp: FtpDialect = field(default_factory=FtpDialect)  # the commands it takes
    idle_sessions: int = 0  # connections left in libcurl's cache by clean ends

    def observe_setup(self, seconds: float, *, fresh: bool) -> None:
        seconds = max(0.0, seconds)
        if fresh:
            self.fresh_setup = _average(self.fresh_setup, seconds)
        else:
            self.reused_setup = _average(self.reused_setup, seconds)

    def session_kept(self) -> None:
        """A transfer ended cleanly: its connection waits in libcurl's cache."""
        self.idle_sessions += 1

    def session_taken(self) -> None:
        """A transfer starts: it takes a cached connection if one waits."""
        self.idle_sessions = max(0, self.idle_sessions - 1)

    def no_idle_sessions(self) -> None:
        """A transfer had to open a connection: the count was wrong (libcurl
        closed some, or the server did not keep them)."""
        self.idle_sessions = 0

    @property
    def split_cost(self) -> float:
        """Seconds a new range waits for its first byte: a cached connection's
        set-up while one waits (the count is the best guess: libcurl may close
        an idle connection meanwhile), else the worst of the two."""
        if self.idle_sessions:
            if self.reused_setup is not None:
                return self.reused_setup
            if self.fresh_setup is not None:
                # Not measured yet: a cached connection skips the handshakes
                # and the login, about half of a new one's round trips.
                return self.fresh_setup * _REUSED_PRIOR
        known = [s for s in (self.fresh_setup, self.reused_setup) if s is not None]
        return max(known, default=0.0)
