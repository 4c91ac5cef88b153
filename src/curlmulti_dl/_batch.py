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
import dataclasses
import hashlib
import os
import time
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import anyio

from ._exceptions import DownloadError, DuplicateOutputError, ServerError, StorageError
from ._progress import DownloadResult, ProgressCallback
from ._redact import redact_url
from .engine.runtime import cancel_and_wait, running_loop
from .files.names import filename_from_url, normalize_url
from .protocol.listing import Entry, Glob, entry_url, safe_name, split_glob

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


@dataclass(frozen=True)
class DownloadRequest:
    """One item of a batch: ``url`` to ``dest`` (a file path, relative to the
    batch's directory, or a directory; None: the URL's file name in the
    batch's directory), with its own ``checksum`` and other ``options``
    (keywords of ``fetch``)."""

    url: str
    dest: str | os.PathLike[str] | None = None
    checksum: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"DownloadRequest({redact_url(self.url)!r}, dest={self.dest!r})"


Item = str | DownloadRequest


@dataclass
class BatchSummary:
    """What a batch did so far: counts, bytes, and the results that failed."""

    succeeded: int = 0  # downloaded (resumed ones included)
    skipped: int = 0  # already there
    failures: int = 0  # files that failed
    failed: list[DownloadResult] = field(default_factory=list)  # the first FAILED_LISTED
    bytes: int = 0  # bytes of the files that succeeded
    started_at: float = field(default_factory=time.monotonic)
    ended_at: float | None = None

    @property
    def total(self) -> int:
        return self.succeeded + self.skipped + self.failures

    @property
    def elapsed(self) -> float:
        return (self.ended_at or time.monotonic()) - self.started_at

    def add(self, result: DownloadResult) -> None:
        if result.error is not None:
            self.failures += 1
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
            f"{self.failures} failed ({self.bytes} bytes in {self.elapsed:.1f} s)"
        )


class Fetch(Protocol):
    def __call__(
        self, url: str, dest: Any, *, progress: ProgressCallback | None, **options: Any
    ) -> Awaitable[DownloadResult]: ...


class Lister(Protocol):
    def __call__(self, url: str, **options: Any) -> Awaitable[list[Entry]]: ...


@dataclass(frozen=True)
class Expansion:
    """How URLs that name many files are read: ``globs`` (off: every URL is
    one file, as ``--globoff``), and how deep ``recursive`` walks (0: the
    directory itself only)."""

    lister: Lister | None = None
    globs: bool = True
    depth: int = 0


_DONE = object()


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
        self._fetch = fetch
        self._items = items
        self._dir = Path(dest_dir) if dest_dir is not None else None
        self._skip_existing = skip_existing
        self._progress = progress
        self._options = dict(options or {})
        self._expansion = expansion or Expansion()
        self._slots = _Slots(lookahead)
        self._results = _Results()
        self._tasks: set[Any] = set()  # the loop's tasks (asyncio's, or trio's adapter)
        self._feeder: Any = None
        self._fed = False
        self._ended = False  # _DONE is in the queue
        self._outstanding = 0
        self._input_error: Exception | None = None
        # 8-byte digests of the output paths seen: a million items cost ~60 MB
        # less than their paths would, and two items for one file are caught.
        self._outputs: set[bytes] = set()

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
        item = await self._results.get()
        if item is _DONE:
            self._results.put(_DONE)  # for any later __anext__
            if self.summary.ended_at is None:
                self.summary.ended_at = time.monotonic()
            if self._input_error is not None:
                error, self._input_error = self._input_error, None
                raise error
            raise StopAsyncIteration
        assert isinstance(item, DownloadResult)
        self._slots.release()
        self.summary.add(item)
        return item

    async def aclose(self) -> None:
        """Stop the batch: files in flight are cancelled (their NAME.part kept
        for a later run, as a stop of ``fetch`` keeps it)."""
        await cancel_and_wait([t for t in (self._feeder, *self._tasks) if t is not None])
        self._fed = True
        self._maybe_done()  # (the feeder may never have run)
        self._results.drop_all_but_last()  # finished, never taken: dropped with the batch
        if self.summary.ended_at is None:
            self.summary.ended_at = time.monotonic()

    # ------------------------------------------------------------ feeding

    def _start(self) -> None:
        if self._feeder is None:
            self._feeder = running_loop().create_task(self._feed())

    async def _feed(self) -> None:
        try:
            async for item in self._expanded(_lazily(self._items)):
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
            self._maybe_done()

    async def _one(self, item: Item | DownloadResult) -> None:
        try:
            self._results.put(await self._run(item))
        finally:
            self._outstanding -= 1
            self._maybe_done()

    def _maybe_done(self) -> None:
        if self._fed and not self._outstanding and not self._ended:
            self._ended = True
            self._results.put(_DONE)

    async def _expanded(self, items: AsyncIterator[Item]) -> AsyncIterator[Item | DownloadResult]:
        """Items as they are, but a glob or a directory URL in place of its files."""
        expansion = self._expansion
        async for item in items:
            request = item if isinstance(item, DownloadRequest) else DownloadRequest(str(item))
            glob = split_glob(request.url.strip()) if expansion.globs else None
            if glob is None or expansion.lister is None:
                yield item
                continue
            # Matches go below the item's own directory (dest), keeping the
            # listing's subdirectories when walking.
            under = Path(request.dest) if request.dest is not None else Path()
            matched = 0
            try:
                async for found in self._walk(glob, under, expansion.depth, request):
                    matched += 1
                    yield found
            except DownloadError as exc:
                yield failed_result(request.url, None, exc)
                continue
            if not matched:  # as lftp and wget say: a glob that finds nothing is an error
                where = f"{redact_url(glob.directory)} matches {glob.pattern!r}"
                error = ServerError(f"no file in {where}", url=request.url)
                yield failed_result(request.url, None, error)

    async def _walk(
        self, glob: Glob, under: Path, depth: int, template: DownloadRequest
    ) -> AsyncIterator[DownloadRequest]:
        """The files of ``glob``'s directory that match (largest first, where
        the listing says sizes), then, ``depth`` levels down, its directories'.
        ``under``: their place, relative to the batch's directory."""
        lister = self._expansion.lister
        assert lister is not None
        entries = [e for e in await lister(glob.directory, **self._options) if safe_name(e.name)]
        files = [e for e in entries if e.kind == "file" and glob.matches(e.name)]
        files.sort(key=lambda e: -(e.size or 0))  # longest first: the tail is short
        if files and under.parts:
            base = self._dir if self._dir is not None else Path.cwd()
            (base / under).mkdir(parents=True, exist_ok=True)
        for entry in files:
            url = entry_url(glob.directory, entry.name)
            yield dataclasses.replace(template, url=url, dest=under / entry.name)
        if depth <= 0:
            return
        for entry in entries:
            if entry.kind == "dir":
                inner = Glob(entry_url(glob.directory, entry.name) + "/", glob.pattern)
                async for found in self._walk(inner, under / entry.name, depth - 1, template):
                    yield found

    async def _run(self, item: Item | DownloadResult) -> DownloadResult:
        if isinstance(item, DownloadResult):
            return item  # it failed before it was a file (a listing)
        request = item if isinstance(item, DownloadRequest) else DownloadRequest(str(item))
        path: Path | None = None
        try:
            url = normalize_url(request.url.strip())
            path = self._output_path(url, request)
            self._claim(path, url)
            if self._skip_existing and path.is_file():
                return _skipped(url, path)
            options = {**self._options, **request.options}
            if request.checksum is not None:
                options["checksum"] = request.checksum
            return await self._fetch(url, path, progress=self._progress, **options)
        except DownloadError as exc:
            return failed_result(request.url, path, exc)  # (its frames are dropped)
        except (TypeError, ValueError, OSError) as exc:
            return failed_result(request.url, path, DownloadError(f"{exc}", url=request.url))

    def _output_path(self, url: str, request: DownloadRequest) -> Path:
        base = self._dir if self._dir is not None else Path.cwd()
        if request.dest is None:
            return base / filename_from_url(url)
        path = base / Path(request.dest)  # an absolute dest stays as it is
        directory = os.fspath(request.dest).endswith(os.sep) or path.is_dir()
        return path / filename_from_url(url) if directory else path

    def _claim(self, path: Path, url: str) -> None:
        key = hashlib.blake2b(os.fsencode(os.path.abspath(path)), digest_size=8).digest()
        if key in self._outputs:
            raise DuplicateOutputError(
                f"{path} is the output of an earlier item of this batch", url=url
            )
        self._outputs.add(key)


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


def _skipped(url: str, path: Path) -> DownloadResult:
    public = redact_url(url)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise StorageError(f"cannot read {path}: {exc.strerror or exc}", url=url) from None
    return dataclasses.replace(
        _result(public, path), size=size, skipped=True, notice="exists: skipped without a request"
    )


def failed_result(url: str, path: Path | None, error: DownloadError) -> DownloadResult:
    """A result for a file that failed. The error loses its traceback: its
    frames would keep every failed file's locals alive (a long batch of
    missing files grew by ~20 KB a file)."""
    _forget_frames(error)
    return dataclasses.replace(_result(redact_url(url), path), error=error)


def _result(public_url: str, path: Path | None) -> DownloadResult:
    """A result for a file no connection was spent on."""
    return DownloadResult(
        url=public_url,
        effective_url=public_url,
        path=path or Path(),
        size=0,
        elapsed=0.0,
        connections=0,
        ranges=0,
        splits=0,
    )


def _forget_frames(error: BaseException) -> None:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        current.__traceback__ = None
        current = current.__cause__ or current.__context__


class _Slots:
    """A counting semaphore on the running loop's futures (asyncio or trio)."""

    def __init__(self, count: int) -> None:
        self._free = count
        self._waiters: deque[Any] = deque()

    async def acquire(self) -> None:
        while self._free <= 0:
            waiter = running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
        self._free -= 1

    def release(self) -> None:
        self._free += 1
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return


class _Results:
    """A FIFO of results that one consumer awaits (asyncio or trio)."""

    def __init__(self) -> None:
        self._items: deque[object] = deque()
        self._waiter: Any = None

    def put(self, item: object) -> None:
        self._items.append(item)
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def get(self) -> object:
        while not self._items:
            self._waiter = running_loop().create_future()
            await self._waiter
        return self._items.popleft()

    def drop_all_but_last(self) -> None:
        while len(self._items) > 1:
            self._items.popleft()
