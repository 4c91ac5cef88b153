"""The event loop as the package uses it, typed: asyncio's loop, or trio's
through ``engine.runtime.TrioLoop``. Protocols only, no code: a module of
any layer may name the loop it is given.

Example::

    def later(loop: Loop) -> Handle:
        return loop.call_later(0.1, print, "later")
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Generator
from typing import Any, Protocol, TypeVar

__all__ = ["Handle", "Loop", "LoopFuture", "TimerHandle"]

T = TypeVar("T")


class Handle(Protocol):
    """What ``call_soon`` returns."""

    def cancel(self) -> None: ...

    def cancelled(self) -> bool: ...


class TimerHandle(Handle, Protocol):
    """What ``call_later`` returns."""

    def when(self) -> float: ...


class LoopFuture(Protocol[T]):
    """A future or a task of the loop (asyncio's, or ``TrioFuture``)."""

    def done(self) -> bool: ...

    def cancelled(self) -> bool: ...

    def cancel(self) -> bool: ...

    def result(self) -> T: ...

    def exception(self) -> BaseException | None: ...

    def set_result(self, result: T, /) -> None: ...

    def set_exception(self, exception: BaseException, /) -> None: ...

    def add_done_callback(self, fn: Callable[[Any], object], /) -> None: ...

    def __await__(self) -> Generator[Any, None, T]: ...


class Loop(Protocol):
    """The loop subset the core uses: asyncio's loop, or ``TrioLoop``."""

    def time(self) -> float: ...

    def call_soon(self, callback: Callable[..., object], *args: Any) -> Handle: ...

    def call_later(
        self, delay: float, callback: Callable[..., object], *args: Any
    ) -> TimerHandle: ...

    def create_future(self) -> LoopFuture[Any]: ...

    def create_task(self, coro: Coroutine[Any, Any, T]) -> LoopFuture[T]: ...

    def run_in_executor(
        self, executor: None, function: Callable[..., T], *args: Any
    ) -> LoopFuture[T]: ...

    def add_reader(self, fd: int, callback: Callable[..., object], *args: Any) -> None: ...

    def add_writer(self, fd: int, callback: Callable[..., object], *args: Any) -> None: ...

    def remove_reader(self, fd: int) -> bool: ...

    def remove_writer(self, fd: int) -> bool: ...
