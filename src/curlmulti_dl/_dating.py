"""A file's date asked after its bytes, when its first answer had none (an
FTP server without MLST answered the MLST that the first transfer sent in
place of MDTM). A mixin of ``FileDownload``.

The date is a transfer without a body on a cached session of the host
(libcurl's own CWDs, then MDTM, SIZE and REST 0, in its state machine),
between the last byte and the rename. An MDTM after the data on the same
transfer (a POSTQUOTE) would be waited for blocking the event loop: 3 s of
stalls for 60 small files 100 ms away; a QUOTE would be sent before libcurl's
CWD, in whatever directory the cached session was left.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, cast

from ._jobstate import DownloadState, JobEvents
from ._names import Origin
from ._ranges import RangeBook
from ._storage import PartFile, Storage
from ._transfer import RangeTransfer

if TYPE_CHECKING:
    from ._download import FileDownload

__all__ = ["Dating"]


class Dating:
    """The dating half of ``FileDownload``."""

    origin: Origin
    book: RangeBook
    storage: Storage | None
    state: DownloadState
    _loop: asyncio.AbstractEventLoop
    _events: JobEvents
    _date_query: RangeTransfer | None
    _dated: bool

    @property
    def _job(self) -> FileDownload:
        return cast("FileDownload", self)

    def _finish(self) -> None:
        raise NotImplementedError

    def _wants_date(self) -> bool:
        """Every byte is in, and the file has no date to be stamped with."""
        probe = self.book.probe
        return (
            self.origin.is_ftp
            and not self._dated
            and probe is not None
            and probe.last_modified is None
            and isinstance(self.storage, PartFile)
        )

    def _start_dating(self) -> None:
        """Ask for a slot (the event comes soon, outside libcurl)."""
        self._dated = True
        self.state = DownloadState.DATING
        self._loop.call_soon(self._events.retry_ready, self._job, None)

    def _date_transfer(self) -> RangeTransfer | None:
        """The date query for a slot just granted."""
        if self.storage is None:
            return None
        self._date_query = self.book.date_query(self.storage)
        return self._date_query

    def _date_done(self, transfer: RangeTransfer, code: int) -> None:
        """The query is over (answered or not): stamp with what came, and finish."""
        self._date_query = None
        transfer.close()
        if code == 0:
            self.book.learn_date(transfer)
        if self.state is DownloadState.DATING:
            self._finish()
