"""A batch: any number of files on one Downloader, results as they come.

Items are taken from the input lazily (a list, any iterable, an async
iterator, the lines of a file) with a bounded look-ahead: at most
``lookahead`` files are in flight or finished but not yet taken by the
caller, so memory and descriptors follow the budget, not the number of
items. A file that fails is a result with ``error`` set; it never raises
and never stops the others. Running the same batch again skips complete
files and resumes partial ones, so retrying what failed is the same call.

Example::

    async with Downloader(max_host_connections=30) as dl:
        async with dl.fetch_many(urls, "/data") as batch:
            async for result in batch:
                print(result.path if result.ok else result.error)
        print(batch.summary)
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import os
import time
import warnings
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ._batchitems import (
    DownloadRequest,
    Item,
    as_request,
    failed_result,
    item_error,
    skipped_result,
)
from ._config import FileOptions
from ._exceptions import DuplicateOutputError
from ._expansion import Expansion, expand
from ._expected import ExpectedSizes, FileSize
from ._progress import DownloadResult, ProgressCallback
from .engine.runtime import LoopFuture, cancel_and_wait, running_loop
from .files.confine import make_parents, output_path
from .files.names import JOURNAL_SUFFIX, journal_path_for, part_path_for
from .protocol.urls import normalize_url

if TYPE_CHECKING:
    from typing_extensions import Unpack  # (typing's from Python 3.11)

__all__ = [
    "FAILED_LISTED",
    "Batch",
    "BatchSummary",
    "DownloadRequest",
    "Expansion",
    "Item",
    "failed_result",
]

FAILED_LISTED = 10_000  # failed results a summary keeps (all are counted)


@dataclass
class BatchSummary:
    """What a batch did so far: counts, bytes, and the results that failed
    (``failed_count`` of them; ``failed`` lists the first 10,000)."""

    succeeded: int = 0  # downloaded (resumed ones included)
    skipped: int = 0  # already there
    failed_count: int = 0  # files that failed
    failed: list[DownloadResult] = field(default_factory=list)  # the first FAILED_LISTED
    bytes: int = 0  # bytes of the files that succeeded
    started_at: float = field(default_factory=time.monotonic)
    ended_at: float | None = None

    @property
    def total(self) -> int:
        return self.succeeded + self.skipped + self.failed_count

    @property
    def failures(self) -> int:
        """Deprecated: ``failed_count`` (removed in the next release)."""
        warnings.warn("BatchSummary.failures is now failed_count", DeprecationWarning, stacklevel=2)
        return self.failed_count

    @property
    def elapsed(self) -> float:
        return (self.ended_at or time.monotonic()) - self.started_at

    def add(self, result: DownloadResult) -> None:
        if result.error is not None:
            self.failed_count += 1
            if len(self.failed) < FAILED_LISTED:
                self.failed.append(result)
        elif result.skipped:
            self.skipped += 1
        else:
            self.succeeded += 1
            self.bytes += result.size

    def __str__(self) -> str:
        files = f"{self.total} file{'' if self.total == 1 else 's'}"
        return (
            f"{files}: {self.succeeded} downloaded, {self.skipped} already there, "
            f"{self.failed_count} failed ({self.bytes} bytes in {self.elapsed:.1f} s)"
        )


class Fetch(Protocol):
    def __call__(
        self,
        url: str,
        dest: Any,
        *,
        progress: ProgressCallback | None,
        **options: Unpack[FileOptions],
    ) -> Awaitable[DownloadResult]: ...


class Batch:
    """Made by ``Downloader.fetch_many``: an async context manager and an
    async iterator of ``DownloadResult`` in the order files finish."""

    def __init__(
        self,
        fetch: Fetch,
        items: Iterable[Item] | AsyncIterable[Item],
        dest_dir: str | os.PathLike[str] | None,
        *,
        lookahead: int,
        skip_existing: bool = False,
        progress: ProgressCallback | None = None,
        options: Mapping[str, Any] | None = None,
        expansion: Expansion | None = None,
    ) -> None:
        if lookahead < 1:
            raise ValueError("lookahead must be >= 1")
        self.summary = BatchSummary()
        self.expected = ExpectedSizes()  # what a display shows as the total
        self._fetch = fetch
        self._items = items
        self._dir = Path(dest_dir) if dest_dir is not None else None
        self._skip_existing = skip_existing
        self._progress = progress
        self._options = dict(options or {})
        self._expansion = expansion or Expansion()
        # At most ``lookahead`` files in flight or done and not yet taken: a
        # slot is taken before an item is read and given back as its result
        # is taken. (fast_acquire: a free slot costs no turn of the loop.)
        self._slots = anyio.Semaphore(lookahead, fast_acquire=True)
        # Results in the order they come; closed once the last one is in.
        # Made by _start: a batch never started leaves no stream to close.
        self._send: MemoryObjectSendStream[DownloadResult] | None = None
        self._receive: MemoryObjectReceiveStream[DownloadResult] | None = None
        self._tasks: set[LoopFuture[None]] = set()  # the loop's (asyncio's, or trio's adapter)
        self._feeder: LoopFuture[None] | None = None
        self._fed = False
        self._outstanding = 0
        self._input_error: Exception | None = None
        # 8-byte digests of the output paths seen: a million items cost ~60 MB
        # less than their paths would, and two items for one file are caught.
        self._outputs: set[bytes] = set()
        self._made: Path | None = None  # the last directory made or found

    # ------------------------------------------------------------ the caller's side

    async def __aenter__(self) -> Batch:
        self._start()
        return self

    async def __aexit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        if kind is not None:
            await self.aclose()
            return
        async for _ in self:  # results nobody took still count in the summary
            pass

    def __aiter__(self) -> AsyncIterator[DownloadResult]:
        self._start()
        return self

    async def __anext__(self) -> DownloadResult:
        self._start()
        assert self._receive is not None
        try:
            try:
                result = self._receive.receive_nowait()  # (no turn of the loop when one waits)
            except anyio.WouldBlock:
                result = await self._receive.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):  # (closed: ended before)
            self._receive.close()
            if self.summary.ended_at is None:
                self.summary.ended_at = time.monotonic()
            if self._input_error is not None:
                error, self._input_error = self._input_error, None
                raise error from None
            raise StopAsyncIteration from None
        self._slots.release()
        self.summary.add(result)
        return result

    async def aclose(self) -> None:
        """Stop the batch: files in flight are cancelled (their NAME.part kept
        for a later run, as a stop of ``fetch`` keeps it)."""
        await cancel_and_wait([t for t in (self._feeder, *self._tasks) if t is not None])
        self._fed = True
        if self._send is not None:  # nothing runs now: the results end here
            self._send.close()
        if self._receive is not None:
            self._receive.close()  # finished, never taken: dropped with the batch
        if self.summary.ended_at is None:
            self.summary.ended_at = time.monotonic()

    # ------------------------------------------------------------ feeding

    def _start(self) -> None:
        if self._feeder is None:
            self._send, self._receive = anyio.create_memory_object_stream[DownloadResult](math.inf)
            self._feeder = running_loop().create_task(self._feed())

    async def _feed(self) -> None:
        try:
            expanded = expand(_lazily(self._items), self._expansion, self._options, self.expected)
            async for item in expanded:
                await self._slots.acquire()
                self._outstanding += 1
                task = running_loop().create_task(self._one(item))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the input itself failed (a file, a generator)
            self._input_error = exc
        finally:
            self._fed = True
            self.expected.complete = True
            self._maybe_done()

    async def _one(self, item: Item | DownloadResult) -> None:
        try:
            share = None  # a failed listing is no file of the total
            if not isinstance(item, DownloadResult):
                share = self.expected.start(as_request(item).url)
            result = await self._run(item, share)
            if share is not None:
                share.ended(result)
            assert self._send is not None
            self._send.send_nowait(result)
        finally:
            self._outstanding -= 1
            self._maybe_done()

    def _maybe_done(self) -> None:
        if self._fed and not self._outstanding and self._send is not None:
            self._send.close()  # (again: nothing)

    async def _run(
        self, item: Item | DownloadResult, share: FileSize | None = None
    ) -> DownloadResult:
        if isinstance(item, DownloadResult):
            return item  # it failed before it was a file (a listing)
        request = as_request(item)
        path: Path | None = None
        try:
            url = normalize_url(request.url.strip())
            path = output_path(self._base(), request.dest, url)
            self._claim(path, url)
            if path.parent != self._made:  # (one mkdir per directory in a row)
                make_parents(path, url)
                self._made = path.parent
            if self._skip_existing and path.is_file():
                return skipped_result(url, path)
            options = {**self._options, **request.options}
            if request.checksum is not None:
                options["checksum"] = request.checksum
            progress = share.watch(self._progress) if share is not None else self._progress
            return await self._fetch(url, path, progress=progress, **options)
        except Exception as exc:  # one item's failure, whatever it was (frames dropped)
            return failed_result(request.url, path, item_error(exc, request.url, "downloading"))

    def _base(self) -> Path:
        """The batch's directory, made absolute once: a later chdir moves nothing."""
        if self._dir is None or not self._dir.is_absolute():
            self._dir = Path(os.path.abspath(self._dir or "."))
        return self._dir

    def _claim(self, path: Path, url: str) -> None:
        """Refuse an item whose output, or one of its temporary files, is an
        earlier item's output or temporary file. Only outputs are kept (a
        million items cost one digest each): the temporary names follow from
        them, but for a name so long that its ``NAME.part`` was shortened."""
        part = part_path_for(path)
        journal = journal_path_for(part)
        near = [path, part, journal]  # an earlier output at one of these
        for suffix in (".part", ".part" + JOURNAL_SUFFIX):
            if path.name.endswith(suffix):  # an earlier output whose temporary file this is
                near.append(path.with_name(path.name.removesuffix(suffix)))
        if any(_key(p) in self._outputs for p in near):
            raise DuplicateOutputError(
                f"{path} is the output, or a temporary file, of an earlier item of this batch",
                url=url,
            )
        self._outputs.add(_key(path))
        if part.name != path.name + ".part":
            self._outputs.update((_key(part), _key(journal)))


def _key(path: Path) -> bytes:
    return hashlib.blake2b(os.fsencode(path), digest_size=8).digest()


async def _lazily(items: Iterable[Item] | AsyncIterable[Item]) -> AsyncIterator[Item]:
    if isinstance(items, AsyncIterable):
        async for item in items:
            yield item
        return
    for count, item in enumerate(items, 1):
        if isinstance(item, str) and (not item.strip() or item.lstrip().startswith("#")):
            continue  # blank lines and comments of a list file
        yield item
        if count % 256 == 0:
            await anyio.sleep(0)  # a long list must not hold the loop
