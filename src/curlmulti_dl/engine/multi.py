"""The only module that touches libcurl's socket and timer callbacks.

``CurlBridge`` drives one ``pycurl.CurlMulti`` from the running asyncio loop:
libcurl says which sockets to watch (``M_SOCKETFUNCTION``) and when to wake it
(``M_TIMERFUNCTION``); the loop's ``add_reader``/``add_writer`` and one movable
timer handle call ``socket_action`` back. No thread, no periodic wake-up: an
idle bridge has no registered timer and makes no callbacks.

Why our own bridge and not ``pycurl.AsyncCurlMulti``: one ``socket_action``
call drains a socket for up to ~175 ms and one loop iteration services every
ready socket, so other tasks on the loop wake up seconds late. The bridge keeps
a per-iteration work budget: once it is spent, ready sockets are deferred to
the next iteration and write callbacks pause their transfer
(``CURL_WRITEFUNC_PAUSE``) until then. The trio path (through anyio) plugs in
at ``_watch``/``_on_timer`` with the batch issue.

Measured with ``benchmarks/bridge_vs_async_multi.py`` (same 1 GiB file from
nginx on loopback, 8 ranges, same handles with one pwrite per chunk, budget
off; medians of 5 alternating runs, 2026-11-23): AsyncCurlMulti 790 MiB/s at
1.30 CPU-s/GiB, this bridge 818 MiB/s (1.04x) at 1.25 CPU-s/GiB. With the
default 5 ms budget a 10 ms sleeper woke at most ~25 ms late (p99 ~18 ms)
instead of ~0.7-0.8 s unbounded (``benchmarks/responsiveness.py``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pycurl

from .runtime import Handle, Loop

__all__ = ["CurlBridge", "DoneCallback"]

DoneCallback = Callable[[int, str], None]

_MULTI_FAILED = 2  # CURLE_FAILED_INIT: the transfer never got a fair chance
_READ = 1
_WRITE = 2
_POLL_MASKS = {
    pycurl.POLL_NONE: 0,
    pycurl.POLL_IN: _READ,
    pycurl.POLL_OUT: _WRITE,
    pycurl.POLL_INOUT: _READ | _WRITE,
    pycurl.POLL_REMOVE: 0,
}


class CurlBridge:
    """One CurlMulti on one asyncio loop.

    ``budget`` is the most time (seconds) the bridge spends in libcurl per loop
    iteration; None switches the bound off.

    Example::

        bridge = CurlBridge(asyncio.get_running_loop(), budget=0.005)
        bridge.add(curl, lambda code, message: print("done", code))
    """

    def __init__(self, loop: Loop, budget: float | None) -> None:
        _require_selector_loop(loop)  # libcurl's sockets are watched with add_reader
        # asyncio's loop, or engine.runtime.TrioLoop (which has socket_closing).
        self._loop = loop
        self._socket_closing = getattr(loop, "socket_closing", None)
        self._budget = budget
        self._multi = pycurl.CurlMulti()
        self._multi.setopt(pycurl.M_SOCKETFUNCTION, self._on_socket)
        self._multi.setopt(pycurl.M_TIMERFUNCTION, self._on_timer)
        self._watched: dict[int, int] = {}
        self._timer: Handle | None = None  # the loop's handle of libcurl's timer
        self._callbacks: dict[Any, DoneCallback] = {}
        # Told libcurl's descriptor of each transfer that ended well, while
        # it can still be read (the handle leaves the multi next): its
        # connection stays in libcurl's cache, connected and idle.
        self.on_kept_connection: Callable[[int], None] | None = None
        self._window_open = False
        self._deadline = 0.0
        self._deferred: dict[int, int] = {}
        self._paused: list[Any] = []
        self._closed = False
        #: How many times libcurl called the socket / timer callback (tests read these).
        self.socket_callbacks = 0
        self.timer_callbacks = 0

    # ------------------------------------------------------------------ public

    @property
    def loop(self) -> Loop:
        return self._loop

    @property
    def budget_enabled(self) -> bool:
        return self._budget is not None

    @property
    def active(self) -> int:
        return len(self._callbacks)

    def setopt(self, option: int, value: Any) -> None:
        """Set a multi option (not the socket or timer function)."""
        if option in (pycurl.M_SOCKETFUNCTION, pycurl.M_TIMERFUNCTION):
            raise ValueError("the bridge owns the socket and timer callbacks")
        self._multi.setopt(option, value)

    def add(self, curl: Any, on_done: DoneCallback) -> None:
        """Start ``curl``; ``on_done(curl_code, message)`` runs when it ends."""
        if self._closed:
            raise RuntimeError("the bridge is closed")
        self._callbacks[curl] = on_done
        try:
            self._multi.add_handle(curl)
        except pycurl.error:
            del self._callbacks[curl]
            raise

    def remove(self, curl: Any) -> None:
        """Stop ``curl`` without calling its done callback."""
        if self._callbacks.pop(curl, None) is not None:
            self._multi.remove_handle(curl)
        if curl in self._paused:
            self._paused.remove(curl)

    def over_budget(self) -> bool:
        """True once this loop iteration's budget is spent (write callbacks ask).

        The first call of an iteration opens its window; the window closes at
        the start of the next iteration, which also resumes what was held back.
        """
        now = time.perf_counter()
        if not self._window_open:
            self._window_open = True
            self._deadline = now + self._budget if self._budget is not None else float("inf")
            self._loop.call_soon(self._close_window)
            return False
        return now > self._deadline

    def hold(self, curl: Any) -> None:
        """Record that ``curl`` paused itself; it resumes next iteration."""
        self._paused.append(curl)

    def hold_for(self, curl: Any, seconds: float) -> None:
        """Record that ``curl`` paused itself; it resumes in ``seconds``
        (the shared rate limit: its next bytes are not due yet)."""
        self._loop.call_later(seconds, self._resume, curl)

    def _resume(self, curl: Any) -> None:
        if self._closed or curl not in self._callbacks:
            return
        try:
            curl.pause(pycurl.PAUSE_CONT)  # may deliver the held chunk at once
        except pycurl.error as exc:
            self._finish(curl, int(exc.args[0]), str(exc.args[-1]))
        self._drain()

    def close(self) -> None:
        """Remove every handle (without callbacks) and release the multi."""
        if self._closed:
            return
        self._closed = True
        for curl in list(self._callbacks):
            self.remove(curl)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for fd in list(self._watched):
            self._watch(fd, 0)
        self._multi.close()

    # ------------------------------------------------- libcurl's callbacks
    # Both run inside socket_action/add_handle: they only (un)register with the
    # loop and must never raise (an error here aborts every transfer).

    def _on_socket(self, what: int, fd: int, multi: Any, socketp: Any) -> None:
        self.socket_callbacks += 1
        try:
            if socketp is None and what != pycurl.POLL_REMOVE:
                # A socket libcurl has not told us about before: if its number is
                # still registered, that registration belongs to a closed socket.
                if fd in self._watched:
                    self._forget(fd)
                self._multi.assign(fd, fd)
            self._watch(fd, _POLL_MASKS.get(what, 0))
            if what == pycurl.POLL_REMOVE:
                self._watched.pop(fd, None)
                self._deferred.pop(fd, None)
                if self._socket_closing is not None:
                    self._socket_closing(fd)  # trio: wake any waiter on the number now
        except Exception as exc:  # never let libcurl see an exception
            self._loop.call_soon(self._fail_all, f"socket registration failed: {exc}")

    def _on_timer(self, timeout_ms: int) -> None:
        self.timer_callbacks += 1
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if timeout_ms < 0 or self._closed:
            return
        if timeout_ms == 0:
            self._timer = self._loop.call_soon(self._on_timeout)
        else:
            self._timer = self._loop.call_later(timeout_ms / 1000.0, self._on_timeout)

    # ------------------------------------------------------- loop handlers

    def _watch(self, fd: int, want: int) -> None:
        have = self._watched.get(fd, 0)
        if have & _READ and not want & _READ:
            self._loop.remove_reader(fd)
        if have & _WRITE and not want & _WRITE:
            self._loop.remove_writer(fd)
        if want & _READ and not have & _READ:
            self._loop.add_reader(fd, self._on_ready, fd, pycurl.CSELECT_IN)
        if want & _WRITE and not have & _WRITE:
            self._loop.add_writer(fd, self._on_ready, fd, pycurl.CSELECT_OUT)
        self._watched[fd] = want

    def _forget(self, fd: int) -> None:
        """Drop a stale registration whose socket libcurl already closed."""
        for remove in (self._loop.remove_writer, self._loop.remove_reader):
            try:
                remove(fd)
            except (OSError, ValueError):
                selector = getattr(self._loop, "_selector", None)
                if selector is not None:
                    try:
                        selector.unregister(fd)
                    except (KeyError, OSError, ValueError):
                        pass
        self._watched.pop(fd, None)

    def _on_ready(self, fd: int, event: int) -> None:
        if self._budget is not None and self.over_budget():
            # Level-triggered: the socket stays ready; serve it first next time.
            self._deferred[fd] = self._deferred.get(fd, 0) | event
            return
        self._action(fd, event)

    def _on_timeout(self) -> None:
        self._timer = None
        self._action(pycurl.SOCKET_TIMEOUT, 0)

    def _close_window(self) -> None:
        self._window_open = False
        deferred, self._deferred = self._deferred, {}
        for fd, event in deferred.items():
            if fd not in self._watched:
                continue
            if self.over_budget():
                self._deferred[fd] = self._deferred.get(fd, 0) | event
            else:
                self._action(fd, event)
        paused, self._paused = self._paused, []
        for curl in paused:
            if curl not in self._callbacks:
                continue
            try:
                curl.pause(pycurl.PAUSE_CONT)
            except pycurl.error as exc:
                self._finish(curl, int(exc.args[0]), str(exc.args[-1]))
        self._drain()

    def _action(self, fd: int, event: int) -> None:
        if self._closed:
            return
        try:
            self._multi.socket_action(fd, event)
        except pycurl.error as exc:
            # An error from socket_action itself poisons the whole multi.
            self._fail_all(f"libcurl multi failed: {exc.args[-1]}")
            return
        self._drain()

    def _drain(self) -> None:
        while not self._closed:
            queued, succeeded, failed = self._multi.info_read()
            for curl in succeeded:
                self._finish(curl, 0, "")
            for curl, code, message in failed:
                self._finish(curl, code, message)
            if not queued:
                return

    def _finish(self, curl: Any, code: int, message: str) -> None:
        on_done = self._callbacks.pop(curl, None)
        if on_done is None:
            return
        if code == 0 and self.on_kept_connection is not None:
            self.on_kept_connection(int(curl.getinfo(pycurl.LASTSOCKET)))
        self._multi.remove_handle(curl)
        on_done(code, message)

    def _fail_all(self, message: str) -> None:
        for curl in list(self._callbacks):
            self._finish(curl, _MULTI_FAILED, message)


def _require_selector_loop(loop: Loop) -> None:
    proactor = getattr(asyncio, "ProactorEventLoop", None)
    if proactor is not None and isinstance(loop, proactor):
        raise RuntimeError(
            "curlmulti_dl needs a selector event loop (add_reader); on Windows set "
            "asyncio.WindowsSelectorEventLoopPolicy()"
        )
