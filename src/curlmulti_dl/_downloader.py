"""``Downloader``: one CurlMulti, its connection budgets, and the files it runs."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import pycurl

from ._config import DownloadOptions
from ._destination import Dest, resolve_destination
from ._exceptions import DownloadError
from ._job import FileDownload
from ._multi import CurlBridge
from ._names import normalize_url, parse_origin
from ._progress import DownloadResult, ProgressCallback
from ._storage import open_storage
from ._transfer import RangeTransfer

__all__ = ["DEFAULT_LOOP_BUDGET", "Downloader"]

#: Seconds of libcurl work per event-loop iteration before the bridge yields.
#: Chosen from benchmarks/responsiveness.py (see the README's trade-off table).
DEFAULT_LOOP_BUDGET = 0.005


@dataclass
class _HostSlots:
    limit: int
    active: int = 0
    waiting: deque[FileDownload] = field(default_factory=deque)


class Downloader:
    """Downloads files over many connections from one ``pycurl.CurlMulti``.

    ``max_connections`` caps connections overall, ``max_host_connections`` per
    host and port. A slot is taken before a transfer is handed to libcurl and
    given back when it ends, and transfers do not leave idle connections in
    libcurl's cache, so a slot spans the socket's whole life; libcurl's own
    per-host cap is only a backstop (time queued there would count toward a
    transfer's timeouts).
    ``loop_budget`` bounds the seconds spent in libcurl per event-loop
    iteration so that other tasks stay responsive; None disables it.
    Keyword ``options`` are the defaults of every ``fetch`` (see
    ``DownloadOptions``).

    Example::

        async with Downloader(max_host_connections=30) as dl:
            a = await dl.fetch("ftp://host/a.nc", parts=8)
            b = await dl.fetch("https://host/b.nc")
    """

    def __init__(
        self,
        *,
        max_connections: int = 64,
        max_host_connections: int = 16,
        loop_budget: float | None = DEFAULT_LOOP_BUDGET,
        multiplex: bool = False,
        **options: Any,
    ) -> None:
        if max_connections < 1 or max_host_connections < 1:
            raise ValueError("connection limits must be >= 1")
        if loop_budget is not None and loop_budget <= 0:
            raise ValueError("loop_budget must be positive or None")
        self.max_connections = max_connections
        self.max_host_connections = max_host_connections
        self.loop_budget = loop_budget
        self.multiplex = multiplex
        self.options = DownloadOptions(**options)
        self._bridge: CurlBridge | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._hosts: dict[str, _HostSlots] = {}
        self._running: set[FileDownload] = set()
        self._active = 0
        self._closed = False

    # --------------------------------------------------------------- lifecycle

    async def __aenter__(self) -> Downloader:
        self._ensure_bridge()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop every download still running and release the multi handle."""
        self._closed = True
        for job in list(self._running):
            job.abort()
        if self._bridge is not None:
            self._bridge.close()
            self._bridge = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError("the Downloader has not started yet")
        return self._loop

    @property
    def bridge(self) -> CurlBridge:
        """The multi handle's driver (for tests and diagnostics)."""
        return self._ensure_bridge()

    def _ensure_bridge(self) -> CurlBridge:
        if self._closed:
            raise RuntimeError("the Downloader is closed")
        loop = asyncio.get_running_loop()
        if self._bridge is None:
            _require_selector_loop(loop)
            self._loop = loop
            bridge = CurlBridge(loop, self.loop_budget)
            bridge.setopt(pycurl.M_MAX_HOST_CONNECTIONS, self.max_host_connections)
            bridge.setopt(pycurl.M_MAX_TOTAL_CONNECTIONS, self.max_connections)
            bridge.setopt(pycurl.M_MAXCONNECTS, self.max_connections)
            bridge.setopt(
                pycurl.M_PIPELINING,
                pycurl.PIPE_MULTIPLEX if self.multiplex else pycurl.PIPE_NOTHING,
            )
            self._bridge = bridge
        elif loop is not self._loop:
            raise RuntimeError("a Downloader is bound to the event loop it started on")
        return self._bridge

    # ------------------------------------------------------------------ fetch

    async def fetch(
        self,
        url: str,
        dest: Dest = None,
        *,
        parts: int | None = None,
        progress: ProgressCallback | None = None,
        **options: Any,
    ) -> DownloadResult:
        """Download ``url`` to ``dest``: a file path, an existing directory to
        put the URL's file name in (default: the working directory), a
        character device or FIFO, or an open descriptor (written as one stream).

        Raises a ``DownloadError`` subclass on failure; the final name is then
        never created or changed, and ``NAME.part`` is removed. An existing
        file is replaced only with ``overwrite=True``.
        """
        self._ensure_bridge()
        url = normalize_url(url)
        origin = parse_origin(url)
        if parts is not None:
            options["parts"] = parts
        try:
            opts = dataclasses.replace(self.options, **options) if options else self.options
        except (TypeError, ValueError) as exc:
            raise DownloadError(f"invalid option: {exc}", url=url) from None
        destination = resolve_destination(url, dest, overwrite=opts.overwrite)
        notice = None
        if destination.is_stream and opts.parts > 1:
            notice = f"1 connection instead of {opts.parts}: {destination.path} is a stream"
            opts = dataclasses.replace(opts, parts=1)
        storage = await open_storage(destination, url, opts.connect_timeout)
        job = FileDownload(self, url, origin, storage, opts, progress)
        job.notice = notice
        self._running.add(job)
        try:
            self.want(job)
            return await job.future
        except asyncio.CancelledError:
            job.abort()
            raise
        finally:
            if not job.future.done():
                job.abort()
            self._running.discard(job)

    # ------------------------------------------------------- Scheduler protocol

    def budget_hooks(self) -> tuple[Any, Any]:
        bridge = self._ensure_bridge()
        if not bridge.budget_enabled:
            return (None, None)
        return (bridge.over_budget, bridge.hold)

    def want(self, job: FileDownload) -> None:
        if job.future.done() or job not in self._running:
            return
        key = job.origin.host_key
        slots = self._hosts.get(key)
        if slots is None:
            slots = self._hosts[key] = _HostSlots(self.max_host_connections)
        if job not in slots.waiting:
            slots.waiting.append(job)
        self._pump()

    def stop_transfers(self, job: FileDownload) -> None:
        bridge = self._bridge
        for transfer in job.active:
            if bridge is not None:
                bridge.remove(transfer.curl)
            self._release(job)
            transfer.done = True
            transfer.close()
        job.active.clear()
        for slots in self._hosts.values():
            if job in slots.waiting:
                slots.waiting.remove(job)
        self._pump()

    def abandon(self, job: FileDownload, transfer: RangeTransfer) -> None:
        if self._bridge is not None:
            self._bridge.remove(transfer.curl)
        self._release(job)
        transfer.close()

    # ---------------------------------------------------------------- slots

    def _pump(self) -> None:
        """Hand free slots to waiting files, round-robin per host."""
        bridge = self._bridge
        if bridge is None:
            return
        for slots in self._hosts.values():
            while slots.waiting and slots.active < slots.limit:
                if self._active >= self.max_connections:
                    return
                job = slots.waiting[0]
                transfer = job.next_transfer()
                if transfer is None:
                    slots.waiting.popleft()
                    continue
                self._start(job, slots, transfer, bridge)
                slots.waiting.rotate(-1)

    def _start(
        self, job: FileDownload, slots: _HostSlots, transfer: RangeTransfer, bridge: CurlBridge
    ) -> None:
        slots.active += 1
        self._active += 1
        job.started(transfer)

        def settle(code: int, message: str) -> None:
            self._release(job)
            try:
                job.transfer_done(transfer, code, message)
            except Exception as exc:  # a bug must fail the download, never hang it
                job.fail(DownloadError(f"internal error: {exc!r}", url=job.url))

        def on_done(code: int, message: str) -> None:
            settle(code, message)
            self._pump()

        try:
            bridge.add(transfer.curl, on_done)
        except pycurl.error as exc:
            settle(int(exc.args[0]), str(exc.args[-1]))  # the caller is pumping already

    def _release(self, job: FileDownload) -> None:
        slots = self._hosts[job.origin.host_key]
        slots.active -= 1
        self._active -= 1


def _require_selector_loop(loop: asyncio.AbstractEventLoop) -> None:
    proactor = getattr(asyncio, "ProactorEventLoop", None)
    if proactor is not None and isinstance(loop, proactor):
        raise RuntimeError(
            "curlmulti_dl needs a selector event loop (add_reader); on Windows set "
            "asyncio.WindowsSelectorEventLoopPolicy()"
        )
