"""SIGINT, SIGTERM and SIGHUP stop a command the same way, once.

The first of them cancels the task given (its downloads then remove their
``NAME.part`` as on any cancellation); later ones are ignored while that
clean-up runs, so a second Ctrl+C cannot interrupt it half-way. The exit
status is 128 + the signal's number (130, 143, 129), as shells report it.

Example::

    with StopSignals(asyncio.get_running_loop(), asyncio.current_task()) as stop:
        try:
            await work()
        except asyncio.CancelledError:
            if stop.received is None:
                raise
            return stop.exit_status
"""

from __future__ import annotations

import asyncio
import signal

__all__ = ["STOP_SIGNALS", "StopSignals"]

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class StopSignals:
    """Turn the stop signals into one cancellation of ``task`` while inside."""

    def __init__(self, loop: asyncio.AbstractEventLoop, task: asyncio.Task[object]) -> None:
        self._loop = loop
        self._task = task
        self._installed: list[signal.Signals] = []
        self.received: signal.Signals | None = None

    def __enter__(self) -> StopSignals:
        for signum in STOP_SIGNALS:
            try:
                self._loop.add_signal_handler(signum, self._on_signal, signum)
            except (NotImplementedError, RuntimeError, ValueError):
                continue  # no such signal here, or not the main thread
            self._installed.append(signum)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for signum in self._installed:
            self._loop.remove_signal_handler(signum)
            if self.received is not None:
                # The command is on its way out: a late second Ctrl+C must not
                # turn that into a traceback or a death by signal.
                signal.signal(signum, signal.SIG_IGN)
        self._installed.clear()

    def _on_signal(self, signum: signal.Signals) -> None:
        if self.received is None:
            self.received = signum
            self._task.cancel()

    @property
    def name(self) -> str:
        return self.received.name if self.received is not None else ""

    @property
    def exit_status(self) -> int:
        return 128 + int(self.received) if self.received is not None else 1
