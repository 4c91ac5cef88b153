"""``Transfers``: every running transfer of one Downloader, from the slot it
starts on to its end.

A transfer ends in one of two ways: libcurl finishes it (done, failed, or
cut by its write callback), or its file's machine retires it (a split, a
stall, a failure, a cancel). Either way it ends here, exactly once: taken
off libcurl (unless libcurl is done with it), its slot given back (held a
little longer when it was cut mid-body: the server has yet to see the
connection close), its handle closed. A transfer already ended is not ended
again, whatever asks.

Example::

    transfers = Transfers(scheduler, close_grace=lambda host: 0.1, after=settle)
    transfers.bridge = bridge
    if transfers.start(job, transfer): ...       # on a slot the scheduler granted
    transfers.end_retired(job)                   # after every call into ``job``
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable

import pycurl

from ..engine.curl_errors import ending_of
from ..engine.multi import CurlBridge
from ..engine.transfer import RangeTransfer
from ..ranges.lane import Ending
from ..schedule.scheduler import Scheduler
from .driver import FileDownload

__all__ = ["Transfers"]


class Transfers:
    """The running transfers and their slots (see the module docstring).
    ``after(job)`` runs once ``job`` has heard of a transfer's end."""

    def __init__(
        self,
        scheduler: Scheduler[FileDownload],
        close_grace: Callable[[str], float],
        after: Callable[[FileDownload], None],
    ) -> None:
        self.bridge: CurlBridge | None = None
        self._scheduler = scheduler
        self._close_grace = close_grace
        self._after = after
        self._running: dict[RangeTransfer, FileDownload] = {}

    def start(self, job: FileDownload, transfer: RangeTransfer) -> bool:
        """Hand ``transfer`` to libcurl on one of the host's slots; False if
        no slot is free (nothing was started)."""
        bridge = self.bridge
        assert bridge is not None
        if not self._scheduler.acquire(job, transfer):
            return False
        self._running[transfer] = job
        try:
            bridge.add(transfer.curl, functools.partial(self._done, job, transfer))
        except pycurl.error as exc:
            self._done(job, transfer, int(exc.args[0]), str(exc.args[-1]))
        return True

    def end_retired(self, job: FileDownload) -> None:
        """End the transfers ``job``'s machine retired."""
        retired = job.retired
        while retired:
            self._end(job, retired.pop(), mid_body=True, on_libcurl=True)

    def _done(self, job: FileDownload, transfer: RangeTransfer, code: int, message: str) -> None:
        """libcurl ended ``transfer`` with ``code``: what its handle knows is
        read, it is ended, then its file decides what follows."""
        now = time.monotonic()
        lane = transfer.lane
        ending = ending_of(code)
        try:
            job.transfer_ended(transfer)
        except Exception as exc:  # a bug must fail the download, never hang it
            broken: Exception | None = exc
        else:
            broken = None
        # A write callback's refusal (a range cut short, a full disk) closes
        # the connection mid-body: the server has yet to notice.
        self._end(job, transfer, mid_body=ending is Ending.CUT, on_libcurl=False)
        scheduler = self._scheduler
        try:
            if broken is not None:
                raise broken
            if lane.served(ending):
                scheduler.served(job.host_key, now)
            serving = scheduler.serving(job.host_key, now)
            job.transfer_done(lane, ending, code, message, host_serving=serving)
        except Exception as exc:
            job.internal_error(exc)
        self._after(job)

    def _end(
        self, job: FileDownload, transfer: RangeTransfer, *, mid_body: bool, on_libcurl: bool
    ) -> None:
        if self._running.pop(transfer, None) is None:
            if not transfer.closed:  # made, but never given a slot
                transfer.close()
            return  # ended already
        if on_libcurl and self.bridge is not None:
            self.bridge.remove(transfer.curl)
        linger = self._close_grace(job.host_key) if mid_body else 0.0
        self._scheduler.release(job, transfer, linger=linger, now=time.monotonic())
        transfer.close()
