"""Globs and directory URLs of a batch, read into the files they name.

A listing is a server's answer, so it is input: it arrives page by page (an
S3 prefix one ListObjectsV2 page at a time, so a million keys are never in
memory at once), names already given in a directory are dropped, a
recursive walk lists each directory once, and the entries one item's walk
may give are capped (``max_entries``). Whatever goes wrong while listing
(an unreadable answer, a refused connection, a bug of ours) is that item's
failed result; the files found before it go on, and so does the batch.

Example::

    async for found in expand(items, Expansion(lister, depth=2), options):
        ...  # a DownloadRequest per file, or a failed DownloadResult
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import aclosing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ._batchitems import DownloadRequest, Item, as_request, failed_result, item_error
from ._config import FileOptions
from ._exceptions import DuplicateOutputError, ListingLimitError, ServerError
from ._expected import ExpectedSizes
from ._progress import DownloadResult
from ._redact import redact_url
from .files.confine import relative_dest
from .files.names import local_name
from .protocol.listing import Entry, Glob, entry_url, safe_name, split_glob

if TYPE_CHECKING:
    from typing_extensions import Unpack  # (typing's from Python 3.11)

__all__ = ["MAX_LISTING_ENTRIES", "Expansion", "Lister", "expand"]

#: Entries one item's listing (and walk) may give: a million-key prefix
#: passes, a server that lists forever does not.
MAX_LISTING_ENTRIES = 10_000_000


class Lister(Protocol):
    """A directory's entries, a page at a time (``Downloader.iter_directory``)."""

    def __call__(
        self, url: str, **options: Unpack[FileOptions]
    ) -> AsyncGenerator[list[Entry], None]: ...


@dataclass(frozen=True)
class Expansion:
    """How URLs that name many files are read: ``globs`` (off: every URL is
    one file, as ``--globoff``), how deep ``depth`` walks (0: the directory
    itself only), and the most entries one item's listings may give."""

    lister: Lister | None = None
    globs: bool = True
    depth: int = 0
    max_entries: int = MAX_LISTING_ENTRIES


async def expand(
    items: AsyncIterator[Item],
    expansion: Expansion,
    options: Mapping[str, Any],
    expected: ExpectedSizes | None = None,
) -> AsyncIterator[Item | DownloadResult]:
    """Items as they are, but a glob or a directory URL in place of its files
    (their listed sizes told to ``expected``)."""
    sizes = expected if expected is not None else ExpectedSizes()  # (one nobody reads)
    async for item in items:
        request = as_request(item)
        glob = split_glob(request.url.strip()) if expansion.globs else None
        if glob is None or expansion.lister is None:
            yield item
            continue
        walk = _Walk(expansion.lister, expansion.max_entries, request, options, sizes)
        try:
            # Matches go below the item's own directory (dest), keeping the
            # listing's subdirectories when walking: refused once, not per file.
            under = Path()
            if request.dest is not None:
                under = relative_dest(os.fspath(request.dest), request.url)
            # Closed here, not by the garbage collector, when the walk fails
            # or the batch stops (every listing under it closes in turn).
            async with aclosing(walk.files(glob, under, expansion.depth)) as found_files:
                async for found in found_files:
                    yield found
        except Exception as exc:  # (a cancellation is no Exception: it passes)
            yield failed_result(request.url, None, item_error(exc, request.url, "listing"))
            continue
        if not walk.matched:  # as lftp and wget say: a glob that finds nothing is an error
            where = f"{redact_url(glob.directory)} matches {glob.pattern!r}"
            error = ServerError(f"no file in {where}", url=request.url)
            yield failed_result(request.url, None, error)


class _Walk:
    """One item's listings: the directories seen and the entries counted;
    ``expected`` is told the sizes of the files found."""

    def __init__(
        self,
        lister: Lister,
        max_entries: int,
        template: DownloadRequest,
        options: Mapping[str, Any],
        expected: ExpectedSizes,
    ) -> None:
        self.expected = expected
        self._lister = lister
        self._max_entries = max_entries
        self._template = template
        self._options = options
        self._listed: set[str] = set()
        self._entries = 0
        self.matched = 0

    async def files(
        self, glob: Glob, under: Path, depth: int
    ) -> AsyncGenerator[DownloadRequest | DownloadResult, None]:
        """The files of ``glob``'s directory that match (largest first within
        a page, where the listing says sizes), then, ``depth`` levels down,
        its directories'. ``under``: their place, relative to the batch's
        directory."""
        if glob.directory in self._listed:
            return  # a link back up, or a server that lists a directory twice
        self._listed.add(glob.directory)
        directories: list[str] = []
        seen: dict[str, str] = {}  # name: kind
        async with aclosing(self._lister(glob.directory, **self._options)) as pages:
            async for page in pages:
                self._count(len(page), glob.directory)
                files = []
                for entry in page:
                    wanted = (entry.kind == "file" and glob.matches(entry.name)) or (
                        entry.kind == "dir" and depth > 0
                    )
                    if not wanted or not safe_name(entry.name):
                        continue
                    if entry.name in seen:  # given twice: one file, or one of two kinds
                        if seen[entry.name] != entry.kind:
                            yield self._both_kinds(glob.directory, entry.name, under)
                        continue
                    seen[entry.name] = entry.kind
                    if entry.kind == "file":
                        files.append(entry)
                    else:
                        directories.append(entry.name)
                files.sort(key=lambda e: -(e.size or 0))  # longest first: the tail is short
                self.expected.listed(e.size for e in files)
                for entry in files:
                    self.matched += 1
                    request = self._request(glob.directory, entry.name, under)
                    self.expected.handed(request.url, entry.size)
                    yield request
            seen.clear()
        for name in directories:
            inner = Glob(entry_url(glob.directory, name) + "/", glob.pattern)
            async with aclosing(self.files(inner, under / local_name(name), depth - 1)) as deeper:
                async for found in deeper:
                    yield found

    def _count(self, entries: int, directory: str) -> None:
        self._entries += max(1, entries)  # an empty listing still costs a request
        if self._entries > self._max_entries:
            raise ListingLimitError(
                f"more than {self._max_entries} entries listed, the last in {directory} "
                "(max_listing_entries, --max-listing-entries)",
                url=self._template.url,
            )

    def _both_kinds(self, directory: str, name: str, under: Path) -> DownloadResult:
        url = entry_url(directory, name)
        error = DuplicateOutputError(
            f"{name!r} is listed both as a file and as a directory: only the first is taken",
            url=url,
        )
        return failed_result(url, under / local_name(name), error)

    def _request(self, directory: str, name: str, under: Path) -> DownloadRequest:
        url = entry_url(directory, name)
        return dataclasses.replace(self._template, url=url, dest=under / local_name(name))
