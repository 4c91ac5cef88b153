"""Module-level entry points: ``fetch`` (async), ``download`` and
``download_many`` (sync)."""

from __future__ import annotations

import asyncio
import os
import threading
import weakref
from collections.abc import AsyncIterable, Callable, Coroutine, Iterable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ._batch import BatchSummary, Item
from ._downloader import Downloader
from ._expected import ExpectedSizes
from ._keywords import Checked, ManyOptions, Options, check_options
from ._progress import DownloadResult, ProgressCallback, ProgressSnapshot
from .engine.runtime import running_loop
from .files.destination import Dest

if TYPE_CHECKING:
    from typing_extensions import Unpack  # (typing's from Python 3.11)

__all__ = ["download", "download_many", "fetch"]

T = TypeVar("T")

# The Downloader that concurrent fetch() calls on one loop share, and how many
# calls use it: the last one out closes it, so no multi handle or descriptor
# outlives the calls (a script may run one asyncio.run per file, forever).
_shared: weakref.WeakKeyDictionary[Any, tuple[Downloader, list[int]]] = weakref.WeakKeyDictionary()


async def fetch(
    url: str,
    dest: Dest = None,
    *,
    progress: ProgressCallback | None = None,
    **options: Unpack[Options],
) -> DownloadResult:
    """Download ``url`` over ``parts`` connections (8 by default) into ``dest``.

    The keywords are a file's (``FileOptions``) and a Downloader's
    (``DownloaderOptions``); a bad value raises ``ValueError``, an unknown
    keyword ``TypeError``, before anything is done. Concurrent calls on one
    event loop share one Downloader (one multi handle, one set of connection
    budgets), which closes when the last call returns; a call given a
    Downloader's keywords (``max_connections=4``) runs on a Downloader of its
    own, made with them, outside that shared budget.

    Example::

        result = await curlmulti_dl.fetch("https://example.org/big.nc", "/data", parts=8)
        print(result.path, result.size, result.speed)
    """
    checked = check_options(options, downloader=True)
    if checked.limits_given:
        async with _own_downloader(checked) as downloader:
            return await downloader.fetch(url, dest, progress=progress, **checked.file_given)
    loop = running_loop()
    entry = _shared.get(loop)
    if entry is None or entry[0].closed:
        entry = _shared[loop] = (Downloader(), [0])
    downloader, users = entry
    users[0] += 1
    try:
        return await downloader.fetch(url, dest, progress=progress, **checked.file_given)
    finally:
        users[0] -= 1
        if users[0] == 0:
            _shared.pop(loop, None)
            await downloader.aclose()


def download(
    url: str,
    dest: Dest = None,
    *,
    progress: ProgressCallback | None = None,
    **options: Unpack[Options],
) -> DownloadResult:
    """Blocking ``fetch`` for scripts, on a Downloader of its own (the
    keywords are ``fetch``'s, checked before anything is done).

    Inside a running event loop (a Jupyter cell) it runs in a worker thread
    with a loop of its own, so it neither blocks on nor disturbs that loop's
    tasks (the calling thread still waits for the result). Interrupting the
    caller (Ctrl+C, or cancelling the task that called it) cancels the download.

    Example::

        result = curlmulti_dl.download("ftp://host/pub/file.nc", parts=8)
    """

    checked = check_options(options, downloader=True)

    async def run() -> DownloadResult:
        async with _own_downloader(checked) as downloader:
            return await downloader.fetch(url, dest, progress=progress, **checked.file_given)

    return _run_blocking(run)


def download_many(
    items: Iterable[Item] | AsyncIterable[Item],
    dest_dir: str | os.PathLike[str] | None = None,
    *,
    on_result: Callable[[DownloadResult], object] | None = None,
    show_progress: bool = False,
    progress: ProgressCallback | None = None,
    **options: Unpack[ManyOptions],
) -> BatchSummary:
    """Blocking ``Downloader.fetch_many`` for scripts and notebooks: every item
    downloaded into ``dest_dir``; ``on_result`` is called with each result as
    it finishes (in the batch's thread when a loop is already running). A
    failed file never raises: it is counted in ``summary.failed_count`` and
    listed, with its error, in ``summary.failed`` (the first 10,000).
    ``show_progress=True`` shows one live display for the whole batch (files
    done, bytes, speed, the files in flight, failures kept to the end) on a
    terminal or in a Jupyter cell (with ipywidgets), else a batch line on
    stderr every few seconds.
    The keywords are a Downloader's (``max_connections``,
    ``max_bytes_per_second``, ...: ``DownloaderOptions``), a batch's
    (``BatchOptions``) and a file's (``FileOptions``), checked before
    anything is done.

    Example::

        summary = curlmulti_dl.download_many(open("urls.txt"), "/data",
                                             max_host_connections=30,
                                             show_progress=True)
        for failed in summary.failed:
            print(failed.url, failed.error)
    """

    checked = check_options(options, downloader=True, batch=True)
    keywords: dict[str, Any] = {**checked.file_given, **checked.batch_given}

    async def run() -> BatchSummary:
        async with _own_downloader(checked) as downloader:
            if not show_progress:
                return await _run_batch(downloader, items, dest_dir, on_result, progress, keywords)
            from .view.display import make_library_display

            display = make_library_display()

            def shown_progress(snapshot: ProgressSnapshot) -> None:
                display.progress(snapshot)
                if progress is not None:
                    progress(snapshot)

            def shown(result: DownloadResult) -> None:
                if result.error is None:
                    display.finished(result.url, result)
                else:
                    display.failed(result.url, result.error)
                if on_result is not None:
                    on_result(result)

            with display:
                summary = await _run_batch(
                    downloader, items, dest_dir, shown, shown_progress, keywords, display.follow
                )
                display.batch_done(str(summary))
            return summary

    return _run_blocking(run)


async def _run_batch(
    downloader: Downloader,
    items: Iterable[Item] | AsyncIterable[Item],
    dest_dir: str | os.PathLike[str] | None,
    on_result: Callable[[DownloadResult], object] | None,
    progress: ProgressCallback | None,
    keywords: dict[str, Any],
    follow: Callable[[ExpectedSizes], object] | None = None,
) -> BatchSummary:
    async with downloader.fetch_many(items, dest_dir, progress=progress, **keywords) as batch:
        if follow is not None:
            follow(batch.expected)  # a display's total and ETA
        async for result in batch:
            if on_result is not None:
                on_result(result)
    return batch.summary


class _Worker(Generic[T]):
    """A coroutine on an event loop of its own, in a thread of its own."""

    def __init__(self, make: Callable[[], Coroutine[Any, Any, T]]) -> None:
        self._make = make
        self._ready = threading.Event()
        # Not Thread.join(): on Python 3.11 a KeyboardInterrupt inside join()
        # can mark a running thread as stopped, and a later join() returns at
        # once (the clean-up would then be cut off when the process exits).
        self.done = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[T] | None = None
        self.result: T | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._main, name="curlmulti_dl", daemon=True)

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        try:
            self._loop = loop
            self._task = loop.create_task(self._make())
            self._ready.set()
            self.result = loop.run_until_complete(self._task)
        except BaseException as exc:
            self.error = exc
        finally:
            self._ready.set()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
            self.done.set()

    def cancel(self) -> None:
        self._ready.wait()
        loop, task = self._loop, self._task
        if loop is not None and task is not None:
            try:
                loop.call_soon_threadsafe(task.cancel)
            except RuntimeError:
                pass  # the loop already closed: nothing left to cancel


def _run_in_worker_thread(
    make: Callable[[], Coroutine[Any, Any, T]], caller: asyncio.Task[Any] | None
) -> T:
    worker = _Worker(make)
    worker.thread.start()
    try:
        # Short waits, so that a KeyboardInterrupt reaches this thread and a
        # cancellation of the calling task (asyncio.run's first Ctrl+C only
        # marks it) is noticed although that task's loop is blocked here.
        while not worker.done.wait(0.05):
            if caller is not None and _cancel_requested(caller):
                raise asyncio.CancelledError
    except BaseException:
        worker.cancel()
        worker.done.wait(10)  # removing NAME.part and the handles is quick
        raise
    if worker.error is not None:
        raise worker.error
    assert worker.result is not None
    return worker.result


def _run_blocking(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """``make()`` to completion: on a loop of its own, or beside a running one."""
    try:
        caller = asyncio.current_task()
    except RuntimeError:
        return asyncio.run(make())
    return _run_in_worker_thread(make, caller)


def _cancel_requested(task: asyncio.Task[Any]) -> bool:
    cancelling = getattr(task, "cancelling", None)  # Python 3.11+
    if cancelling is not None:
        return bool(cancelling())
    return bool(getattr(task, "_must_cancel", False))


def _own_downloader(checked: Checked) -> Downloader:
    """A Downloader with the limits a call gave (checked already)."""
    return Downloader(**checked.limits_given)
