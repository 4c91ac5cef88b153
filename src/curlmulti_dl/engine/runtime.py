"""The event loop the core runs on: asyncio's own, or trio's through a small
loop-shaped adapter.

The core asks a loop for a handful of things: ``call_soon``, ``call_later``
(handles it may cancel), ``time``, ``create_future``, ``create_task``,
``run_in_executor`` and ``add_reader`` / ``add_writer`` and their removal.
Under asyncio that is the running loop itself (the fast path: libcurl's
sockets go straight to its selector). Under trio, ``TrioLoop`` provides the
same: a watcher task per socket and direction (``wait_readable`` /
``wait_writable``; ``notify_closing`` when libcurl gives a socket up, so a
new socket on the same number never meets a stale waiter), timers as tasks
sleeping to their deadline, futures on ``trio.Event``, worker threads by
``trio.to_thread``. Only the trio thread touches it.

Both are typed as ``Loop``, the protocol of that handful (``_eventloop``).

Example::

    loop: Loop = running_loop()   # inside asyncio or trio
    loop.call_later(0.1, print, "later")
"""

from __future__ import annotations

import asyncio
import sys
import traceback
from collections.abc import Callable, Coroutine, Generator
from typing import Any

from .._eventloop import Handle, Loop, LoopFuture, TimerHandle

__all__ = [
    "Handle",
    "Loop",
    "LoopFuture",
    "TimerHandle",
    "TrioLoop",
    "cancel_and_wait",
    "running_loop",
]


def running_loop() -> Loop:
    """The running loop: asyncio's, or a ``TrioLoop`` inside ``trio.run``.
    Raises ``RuntimeError`` outside both."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        trio = sys.modules.get("trio")
        if trio is None:
            raise
        try:
            trio.lowlevel.current_trio_token()
        except RuntimeError:
            raise RuntimeError("no running event loop (asyncio or trio)") from None
        return TrioLoop.current()


async def cancel_and_wait(tasks: list[LoopFuture[Any]]) -> None:
    """Cancel the loop's ``tasks`` and wait until each has ended (whatever
    it ended with: they were told to stop)."""
    for task in tasks:
        task.cancel()
    for task in tasks:
        try:
            await task
        except (Exception, asyncio.CancelledError):
            pass


def _report(error: BaseException) -> None:
    # As asyncio does with an exception in a callback: said, never lost, and
    # the loop goes on.
    print("curlmulti_dl: error in a loop callback:", file=sys.stderr)
    traceback.print_exception(type(error), error, error.__traceback__, file=sys.stderr)


class _Handle:
    """What ``call_soon`` / ``call_later`` return: ``cancel()``, ``when()``."""

    def __init__(self, when: float, callback: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self._when = when
        self._callback = callback
        self._args = args
        self._cancelled = False
        self.scope: Any = None

    def cancel(self) -> None:
        self._cancelled = True
        if self.scope is not None:
            self.scope.cancel()

    def cancelled(self) -> bool:
        return self._cancelled

    def when(self) -> float:
        return self._when

    def run(self) -> None:
        if self._cancelled:
            return
        self._cancelled = True  # once
        try:
            self._callback(*self._args)
        except Exception as exc:
            _report(exc)


class TrioFuture:
    """An asyncio-shaped future for the trio thread (awaitable once done)."""

    def __init__(self, loop: TrioLoop) -> None:
        import trio

        self._loop = loop
        self._event = trio.Event()
        self._state = "pending"
        self._value: Any = None
        self._callbacks: list[Callable[[TrioFuture], Any]] = []

    def done(self) -> bool:
        return self._state != "pending"

    def cancelled(self) -> bool:
        return self._state == "cancelled"

    def set_result(self, value: Any) -> None:
        self._settle("result", value)

    def set_exception(self, error: BaseException) -> None:
        self._settle("exception", error)

    def cancel(self) -> bool:
        if self.done():
            return False
        self._settle("cancelled", None)
        return True

    def _settle(self, state: str, value: Any) -> None:
        if self.done():
            raise asyncio.InvalidStateError("the future is already done")
        self._state, self._value = state, value
        self._event.set()
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            self._loop.call_soon(callback, self)

    def result(self) -> Any:
        if self._state == "result":
            return self._value
        if self._state == "exception":
            raise self._value
        if self._state == "cancelled":
            raise asyncio.CancelledError
        raise asyncio.InvalidStateError("the future is not done")

    def exception(self) -> BaseException | None:
        if self._state == "cancelled":
            raise asyncio.CancelledError
        return self._value if self._state == "exception" else None

    def add_done_callback(self, callback: Callable[[TrioFuture], Any]) -> None:
        if self.done():
            self._loop.call_soon(callback, self)
        else:
            self._callbacks.append(callback)

    async def _wait(self) -> Any:
        await self._event.wait()
        return self.result()

    def __await__(self) -> Generator[Any, None, Any]:
        return self._wait().__await__()


class TrioTask(TrioFuture):
    """A coroutine run as a trio system task, shaped like an asyncio task."""

    def __init__(self, loop: TrioLoop, coro: Coroutine[Any, Any, Any]) -> None:
        import trio

        super().__init__(loop)
        self._scope = trio.CancelScope()
        trio.lowlevel.spawn_system_task(self._run, coro)

    async def _run(self, coro: Coroutine[Any, Any, Any]) -> None:
        missing = object()
        value: Any = missing
        error: BaseException | None = None
        with self._scope:
            try:
                value = await coro
            except Exception as exc:
                error = exc
        if self.done():
            return
        if error is not None:
            self.set_exception(error)
        elif value is missing:
            super().cancel()
        else:
            self.set_result(value)

    def cancel(self) -> bool:
        if self.done():
            return False
        self._scope.cancel()
        return True


class TrioLoop:
    """The loop subset the core uses, on trio (one per ``trio.run``)."""

    @classmethod
    def current(cls) -> TrioLoop:
        import trio

        try:
            found: TrioLoop = _TRIO_LOOP.get()
            return found
        except LookupError:
            loop = cls(trio.lowlevel.current_trio_token())
            _TRIO_LOOP.set(loop)
            return loop

    def __init__(self, token: Any) -> None:
        self._token = token
        self._watchers: dict[tuple[int, str], _Watch] = {}

    def time(self) -> float:
        import trio

        return trio.current_time()

    def call_soon(self, callback: Callable[..., Any], *args: Any) -> _Handle:
        handle = _Handle(0.0, callback, args)
        self._token.run_sync_soon(handle.run)
        return handle

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any) -> _Handle:
        import trio

        handle = _Handle(self.time() + max(0.0, delay), callback, args)
        handle.scope = trio.CancelScope(deadline=handle.when())

        async def sleeper() -> None:
            with handle.scope:
                await trio.sleep_forever()
            handle.run()  # (does nothing once cancelled)

        trio.lowlevel.spawn_system_task(sleeper)
        return handle

    def create_future(self) -> TrioFuture:
        return TrioFuture(self)

    def create_task(self, coro: Coroutine[Any, Any, Any]) -> TrioTask:
        return TrioTask(self, coro)

    def run_in_executor(
        self, executor: None, function: Callable[..., Any], *args: Any
    ) -> TrioFuture:
        import trio

        future = TrioFuture(self)

        async def worker() -> None:
            try:
                value = await trio.to_thread.run_sync(function, *args)
            except Exception as exc:
                if not future.done():
                    future.set_exception(exc)
                return
            if not future.done():  # (a cancelled future: the thread ran on)
                future.set_result(value)

        trio.lowlevel.spawn_system_task(worker)
        return future

    # -------------------------------------------------------------- sockets

    def add_reader(self, fd: int, callback: Callable[..., Any], *args: Any) -> None:
        self._watch(fd, "read", callback, args)

    def add_writer(self, fd: int, callback: Callable[..., Any], *args: Any) -> None:
        self._watch(fd, "write", callback, args)

    def remove_reader(self, fd: int) -> bool:
        return self._unwatch(fd, "read")

    def remove_writer(self, fd: int) -> bool:
        return self._unwatch(fd, "write")

    def socket_closing(self, fd: int) -> None:
        """libcurl gave ``fd`` up (it is about to close it): wake and drop its
        watchers now, so that a new socket with the same number starts clean."""
        import trio

        self._unwatch(fd, "read")
        self._unwatch(fd, "write")
        trio.lowlevel.notify_closing(fd)

    def _watch(
        self, fd: int, direction: str, callback: Callable[..., Any], args: tuple[Any, ...]
    ) -> None:
        existing = self._watchers.get((fd, direction))
        if existing is not None:  # the same watcher, a new callback
            existing.callback, existing.args = callback, args
            return
        watch = _Watch(callback, args)
        self._watchers[(fd, direction)] = watch
        import trio

        trio.lowlevel.spawn_system_task(self._watcher, fd, direction, watch)

    def _unwatch(self, fd: int, direction: str) -> bool:
        watch = self._watchers.pop((fd, direction), None)
        if watch is None:
            return False
        watch.scope.cancel()
        return True

    async def _watcher(self, fd: int, direction: str, watch: _Watch) -> None:
        import trio

        wait = trio.lowlevel.wait_readable if direction == "read" else trio.lowlevel.wait_writable
        with watch.scope:
            while True:
                try:
                    await wait(fd)
                except trio.BusyResourceError:
                    # The watcher of a socket this number had is still
                    # leaving: let it go first.
                    await trio.sleep(0)
                    continue
                except (trio.ClosedResourceError, OSError):
                    return
                try:
                    watch.callback(*watch.args)
                except Exception as exc:
                    _report(exc)
                await trio.lowlevel.checkpoint()


class _Watch:
    def __init__(self, callback: Callable[..., Any], args: tuple[Any, ...]) -> None:
        import trio

        self.callback = callback
        self.args = args
        self.scope = trio.CancelScope()


class _LazyRunVar:
    """trio's RunVar, made when trio is first used (trio is optional)."""

    _var: Any = None

    def _get(self) -> Any:
        if self._var is None:
            import trio

            self._var = trio.lowlevel.RunVar("curlmulti_dl_loop")
        return self._var

    def get(self) -> Any:
        return self._get().get()

    def set(self, value: Any) -> None:
        self._get().set(value)


_TRIO_LOOP = _LazyRunVar()
