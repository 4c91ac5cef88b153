"""A file's date asked after its bytes, when its first answer had none (an
FTP server without MLST answered the MLST that the first transfer sent in
place of MDTM). A mixin of ``FileDownload``.

The date is one ``MDTM`` on a cached session of the host: a round trip in
libcurl's state machine, between the last byte and the rename. (An MDTM sent
after the data on the same transfer, as a POSTQUOTE, would be waited for
blocking the event loop: 3 s of stalls for 60 small files 100 ms away.)
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
        """The MDTM for a slot just granted (None: no way to ask; finish)."""
        query = self.book.date_query(self.storage) if self.storage is not None else None
        if query is None:
            self._loop.call_soon(self._date_done, None, 1)
        self._date_query = query
        return query

    def _date_done(self, transfer: RangeTransfer | None, code: int) -> None:
        """The MDTM is over (answered or not): stamp with what came, and finish."""
        self._date_query = None
        if transfer is not None:
            transfer.close()
            if code == 0:
                self.book.learn_date(transfer)
        if self.state is DownloadState.DATING:
            self._finish()
