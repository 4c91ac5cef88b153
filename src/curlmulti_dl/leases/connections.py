"""A Downloader's leases of per-host caps shared with other processes.

One lease per connection: asked for (``HostLeases.take``) when the
Downloader's files want more connections to a host than it holds leases,
and given back once a connection is closed and no file here needs it. The
scheduler's ceiling for the host follows the leases held, so no transfer
starts without one. ``LeaseBook`` (pure) decides the numbers; this module
carries them out on the event loop: the requests, the cut of idle sessions
libcurl keeps, and the give-back once the server has seen them close.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

import anyio

from .._exceptions import DownloadError
from ..engine.runtime import Loop, LoopFuture, cancel_and_wait
from ..engine.sockets import SocketRegistry
from ..schedule.scheduler import Scheduler
from .book import LeaseBook
from .source import HostLeases

__all__ = ["ConnectionLeases", "lease_error"]

#: Seconds a spare lease is kept: long enough for a batch's next file (or
#: a Dask worker's next chunk) to take its connection, short against a
#: lease timeout.
KEEP_SPARE_FOR = 0.5


def lease_error(url: str, error: BaseException) -> DownloadError:
    """What a download or a listing of ``url`` fails with when no lease of
    its host can be had (``error``: why the lease source said no)."""
    return DownloadError(f"no connection lease: {type(error).__name__}: {error}", url=url)


class ConnectionLeases:
    """The leases of one Downloader (see the module docstring)."""

    def __init__(
        self,
        source: HostLeases,
        most: int,
        scheduler: Scheduler[Any],
        sockets: SocketRegistry,
        *,
        changed: Callable[[], None],
        failed: Callable[[str, BaseException], None],
        keep_spare_for: float = KEEP_SPARE_FOR,
    ) -> None:
        self.source = source
        self.book = LeaseBook(most, keep_spare_for)
        # host -> why its last request failed (until one succeeds): with no
        # lease held, its downloads fail; a later one asks again.
        self.errors: dict[str, BaseException] = {}
        self._scheduler = scheduler
        self._sockets = sockets
        self._changed = changed  # a ceiling moved: the Downloader pumps
        self._failed = failed
        self._tasks: set[LoopFuture[None]] = set()
        # host -> its requests out, oldest first
        self._asks: dict[str, dict[_Ask, LoopFuture[None]]] = {}
        self._returning: dict[str, int] = {}  # given back once the server saw them close

    def unavailable(self, key: str) -> BaseException | None:
        """Why no lease of ``key`` can be had now (None: one may come)."""
        error = self.errors.get(key)
        return error if error is not None and not self.book.held(key) else None

    def holds_any(self) -> bool:
        return self.book.holds_any() or bool(self._returning)

    def ask(self, loop: Loop, wanted: Mapping[str, int]) -> None:
        """Ask for the leases ``wanted`` (connections per host) calls for, and
        withdraw the requests it no longer does (the newest first): a request
        left waiting would take a lease another Downloader waits for."""
        for key in list(self._asks):
            withdraw = self.book.to_withdraw(key, wanted.get(key, 0))
            asks = self._asks[key]
            for ask in list(reversed(asks))[:withdraw]:
                ask.withdrawn = True
                asks.pop(ask).cancel()
                self.book.not_granted(key)
            if not asks:
                del self._asks[key]
        for key, needed in wanted.items():
            held_down = self._scheduler.held_down(key)
            for _ in range(self.book.to_ask(key, needed, held_down=held_down)):
                ask = _Ask()
                self._asks.setdefault(key, {})[ask] = self._spawn(loop, self._take(key, ask))

    async def _take(self, key: str, ask: _Ask) -> None:
        try:
            await self.source.take(key)
        except BaseException as exc:
            if ask.withdrawn:
                raise
            self._forget(key, ask)
            self.book.not_granted(key)
            if not isinstance(exc, Exception):
                raise
            self.errors[key] = exc  # the lease source is gone: say so, never hang
            self._failed(key, exc)
            return
        self.errors.pop(key, None)
        if ask.withdrawn:  # came as it was withdrawn: not needed
            await self._give_back(key, 1)
            return
        self._forget(key, ask)
        self.book.granted(key)
        self._scheduler.set_ceiling(key, self.book.held(key))
        self._changed()

    def _forget(self, key: str, ask: _Ask) -> None:
        asks = self._asks.get(key, {})
        asks.pop(ask, None)
        if not asks:
            self._asks.pop(key, None)

    def give_back_spare(
        self,
        loop: Loop,
        wanted: Mapping[str, int],
        now: float,
        busy: Callable[[str], set[int] | None],
        grace: Callable[[str], float],
    ) -> None:
        """Give back leases spare long enough, once their connections are
        closed: idle sessions beyond the ones wanted are cut first (not when
        ``busy(host)``, the descriptors of its running transfers, is None)."""
        sessions = None
        for key in self.book.hosts():
            needed = wanted.get(key, 0)
            parked = self._scheduler.held_down(key)
            if not self.book.spare(key, needed, now, parked=parked):
                continue
            if sessions is None:
                sessions = self._sockets.open_sessions()
            open_now = sessions[key]
            if open_now > needed:
                fds = busy(key)
                if fds is not None:
                    open_now -= self._sockets.cut_idle(key, fds, open_now - needed)
            count = self.book.to_give_back(key, needed, open_now)
            if not count:
                continue
            self.book.given_back(key, count)
            self._scheduler.set_ceiling(key, self.book.held(key))
            self._returning[key] = self._returning.get(key, 0) + count
            self._spawn(loop, self._give_back_later(key, grace(key)))

    async def _give_back_later(self, key: str, grace: float) -> None:
        # A cut connection's FIN is on its way: the server counts it until
        # it arrives.
        await anyio.sleep(grace)
        count = self._returning.pop(key, 0)
        if count:
            await self._give_back(key, count)

    async def _give_back(self, key: str, count: int) -> None:
        with contextlib.suppress(Exception):  # a lost source: its leases expire there
            await self.source.give_back(key, count)

    async def aclose(self) -> None:
        """Give back every lease (the connections are cut by now)."""
        for asks in self._asks.values():
            for ask in asks:
                ask.withdrawn = True
        self._asks.clear()
        await cancel_and_wait(list(self._tasks))
        owed = self.book.give_back_all()
        for key, count in self._returning.items():
            owed[key] = owed.get(key, 0) + count
        self._returning.clear()
        for key, count in owed.items():
            await self._give_back(key, count)

    def _spawn(self, loop: Loop, work: Coroutine[Any, Any, None]) -> LoopFuture[None]:
        task = loop.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task


class _Ask:
    """One lease request out."""

    withdrawn = False
