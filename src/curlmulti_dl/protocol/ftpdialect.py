"""What one FTP server understands, learned as its transfers run. Pure.

Over a far link every command before RETR costs a round trip, so a transfer
sends as few as the server allows:

- **paths**: ``RETR dir/file`` without a CWD first (libcurl's
  ``FTPMETHOD_NOCWD``). Most servers take them; when one answers such a
  request "not found", the transfer is tried again with one CWD, and so is
  every later transfer to that host.
- **listing**: a new file's size and date in one ``MLST`` (RFC 3659) rather
  than ``MDTM`` and ``SIZE``. A server without MLST (vsftpd) gets the two
  commands from then on; the files that asked meanwhile take their size
  from the RETR reply (``150 ... (N bytes)``) and their date from one MDTM
  after their bytes (the DATING state of ``job.machine``), or are asked again where it gives none.

Example::

    dialect = FtpDialect()
    dialect.file_method("auto")  # 'nocwd'
    dialect.may_list()           # True until a server refuses MLST
    dialect.paths_refused()      # True: try this one again with a CWD
    dialect.file_method("auto")  # 'singlecwd'
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .headers import FtpReplies

__all__ = ["FILE_METHODS", "NOT_UNDERSTOOD", "FtpDialect", "Support"]

FILE_METHODS = ("auto", "nocwd", "singlecwd", "multicwd")
NOT_UNDERSTOOD = frozenset({500, 501, 502, 504})  # RFC 959: the command, not the file


class Support(enum.Enum):
    UNKNOWN = "unknown"
    YES = "yes"
    NO = "no"


@dataclass
class FtpDialect:
    """One host's answers so far (shared by every file of the host)."""

    paths: Support = Support.UNKNOWN
    listing: Support = Support.UNKNOWN
    directory_listing: Support = Support.UNKNOWN  # MLSD

    def file_method(self, configured: str) -> str:
        """libcurl's file method for the next transfer (``configured`` is the
        ``ftp_file_method`` option; only "auto" adapts)."""
        if configured != "auto":
            return configured
        return "singlecwd" if self.paths is Support.NO else "nocwd"

    def may_list(self) -> bool:
        """Whether a new file's first transfer may ask MLST."""
        return self.listing is not Support.NO

    def may_list_directories(self) -> bool:
        """Whether a directory is asked with MLSD (else NLST, names only)."""
        return self.directory_listing is not Support.NO and self.listing is not Support.NO

    def directory_listing_answered(self, listed: bool) -> None:
        self.directory_listing = Support.YES if listed else Support.NO

    def paths_answered(self) -> None:
        """A transfer that named the file by its path got an answer."""
        if self.paths is Support.UNKNOWN:
            self.paths = Support.YES

    def paths_refused(self) -> bool:
        """A request by path was answered "not found". Returns whether to
        try it again with a CWD: not when paths already worked on this host
        (then the file is really missing). A missing file seen first costs
        the host its paths for the run: one CWD per session, a small price."""
        if self.paths is Support.YES:
            return False
        self.paths = Support.NO
        return True

    def listing_answered(self, listed: bool) -> None:
        """A first transfer's MLST was answered with facts (``listed``) or not."""
        self.listing = Support.YES if listed else Support.NO

    def observe(self, replies: FtpReplies, *, named_a_directory: bool, listed: bool) -> None:
        """What one transfer's replies tell (``named_a_directory``: its path
        had a directory in it; ``listed``: it asked MLST): paths work once a
        request naming a directory got an answer; MLST works once it gave
        facts, and not once it was not understood (facts of a link, or 550,
        say neither)."""
        answered = replies.size is not None or replies.opened
        if answered and named_a_directory:
            self.paths_answered()
        if listed and replies.listing_code is not None:
            if replies.listed:
                self.listing_answered(True)
            elif replies.listing_code in NOT_UNDERSTOOD:  # not 550: that may be the path
                self.listing_answered(False)
