"""What a file's FTP answers teach: the host's dialect, the file's date when
it came late, and the request that asks only for that date. A mixin of
``RangeBook`` (one concept per module); pure bookkeeping, no I/O.
"""

from __future__ import annotations

import dataclasses

from ._config import DownloadOptions
from ._curlopts import RangeRequest
from ._probe import ProbeResult, http_date
from ._profile import HostProfile
from ._sockets import SocketRegistry
from ._storage import Storage
from ._transfer import RangeTransfer

__all__ = ["FtpAnswers"]


class FtpAnswers:
    """The FTP half of ``RangeBook``."""

    is_ftp: bool
    url: str
    options: DownloadOptions
    probe: ProbeResult | None
    profile: HostProfile
    _socket_registry: SocketRegistry | None
    _host: str

    def _ftp_method(self) -> str:
        return self.profile.ftp.file_method(self.options.ftp_file_method)

    def learn_dialect(self, transfer: RangeTransfer) -> None:
        """What ``transfer``'s answers tell of the server's FTP dialect."""
        if self.is_ftp and transfer.error is None:
            self.profile.ftp.observe(transfer.request, transfer.replies)

    def date_query(self, storage: Storage) -> RangeTransfer:
        """The file's date (MDTM) and no data, on a cached session (_dating)."""
        request = RangeRequest(
            self.url, 0, None, True, ftp_method=self._ftp_method(), date_only=True
        )
        return RangeTransfer(
            request, storage, self.options, sockets=self._socket_registry, host=self._host
        )

    def learn_date(self, transfer: RangeTransfer) -> None:
        """A date that came after the plan (MDTM after the data, or on a later
        range, where MLST gave none) goes into the probe: stamp and journal."""
        probe, mtime = self.probe, transfer.replies.mtime
        if self.is_ftp and probe is not None and probe.last_modified is None and mtime:
            self.probe = dataclasses.replace(probe, last_modified=http_date(mtime))
