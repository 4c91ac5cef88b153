"""A Downloader's free slots turned into transfers on the bridge. A mixin of
``Downloader``: ``_pump`` never re-enters itself; anything that frees a slot
while it runs makes it go round once more instead.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import pycurl

from ._exceptions import DownloadError
from ._multi import CurlBridge
from ._scheduler import Scheduler
from ._sharing import connections_to_open_ahead, share_of_free_slots, unplanned_on
from ._transfer import RangeTransfer

if TYPE_CHECKING:
    from ._download import FileDownload
    from ._sockets import SocketRegistry

__all__ = ["SlotPump"]


class SlotPump:
    """The slot half of ``Downloader``."""

    scheduler: Scheduler[FileDownload]
    sockets: SocketRegistry
    _bridge: CurlBridge | None
    _jobs: set[FileDownload]
    _pumping: bool
    _pump_again: bool

    def _on_done(self, job: FileDownload, transfer: RangeTransfer, code: int, msg: str) -> None:
        raise NotImplementedError

    def _settle(self, job: FileDownload, *, rewant: bool = True) -> None:
        raise NotImplementedError

    def share_of_free_slots(self, job: FileDownload) -> int:
        return share_of_free_slots(job, self._jobs, self.scheduler)

    def connections_to_open_ahead(self, job: FileDownload) -> int:
        return connections_to_open_ahead(job, self._jobs, self.scheduler, self.sockets.warm.count)

    def _pump(self) -> None:
        """Start a transfer on every slot the scheduler grants."""
        if self._pumping:
            self._pump_again = True  # whoever pumps now goes round once more
            return
        self._pumping = True
        try:
            self._pump_again = True
            while self._pump_again:
                self._pump_again = False
                for job in self.scheduler.grants():
                    self._start_one(job)
        finally:
            self._pumping = False

    def _start_one(self, job: FileDownload) -> None:
        bridge = self._bridge
        transfer = None
        if bridge is not None and not (job.rank[0] == 2 and unplanned_on(job.host_key, self._jobs)):
            # A split waits while files of its host are still to be planned:
            # their shares of the free slots are theirs.
            transfer = job.start_transfer()
        if transfer is None:
            # Nothing worth a connection now (events bring it back): the slot
            # goes to the next in line, so go round once more.
            self.scheduler.forget(job)
            self._pump_again = True
            self._settle(job, rewant=False)
            return
        self._pump_again = True
        if not self.scheduler.acquire(job, transfer):  # cannot happen: grants counted
            job.fail(DownloadError("internal error: no slot for a granted transfer", url=job.url))
            self._settle(job)
            return
        assert bridge is not None
        try:
            bridge.add(transfer.curl, functools.partial(self._on_done, job, transfer))
        except pycurl.error as exc:
            self._on_done(job, transfer, int(exc.args[0]), str(exc.args[-1]))
            return
        self._settle(job)
