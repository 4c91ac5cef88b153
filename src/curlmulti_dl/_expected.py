"""What a batch expects to move, for a display's total and ETA. Pure.

Sizes come from listings (a glob or a directory over FTP, SFTP, S3), a page
at a time, before any of its files starts; else from each file's first
answer. Only counters are kept (a listing of a million names costs nothing
here), and the listed size of each file handed to the batch until it
starts (at most the batch's look-ahead). A file's own share is then held
by its ``FileSize``; one that fails or is skipped leaves the total, as it
leaves the bytes done.

Example::

    expected = ExpectedSizes()
    expected.listed([1000, None])     # a listing's page: two matching files
    expected.handed(url, 1000)        # the first is handed to the batch
    size = expected.start(url)        # it starts: its share of the total
    size.ended(result)                # the total follows what it moved
    expected.known, expected.unknown, expected.exact
"""

from __future__ import annotations

from collections.abc import Iterable

from ._progress import DownloadResult, ProgressCallback, ProgressSnapshot

__all__ = ["ExpectedSizes", "FileSize"]


class ExpectedSizes:
    """``files`` counted so far, ``known`` bytes of those whose size is known,
    ``unknown`` files whose size is not yet known; ``complete`` once every
    item was read (no file can be added)."""

    def __init__(self) -> None:
        self.files = 0
        self.known = 0
        self.unknown = 0
        self.complete = False
        # Listed, not yet started: a URL given twice (a glob listed twice) is
        # two files, each with its own size.
        self._handed: dict[str, list[int | None]] = {}

    @property
    def exact(self) -> bool:
        """The total is the batch's, not a lower bound."""
        return self.complete and not self.unknown

    def listed(self, sizes: Iterable[int | None]) -> None:
        """A listing named files, of these sizes (None: it did not say)."""
        for size in sizes:
            self.files += 1
            if size is None:
                self.unknown += 1
            else:
                self.known += size

    def handed(self, url: str, size: int | None) -> None:
        """A listed file goes to the batch as ``url``."""
        self._handed.setdefault(url, []).append(size)

    def start(self, url: str) -> FileSize:
        """The file ``url`` starts: its listed share, or (an item given as it
        is) counted now, its size unknown until its first answer."""
        sizes = self._handed.get(url)
        if not sizes:
            self.listed([None])
            return FileSize(self, None)
        size = sizes.pop(0)
        if not sizes:
            del self._handed[url]
        return FileSize(self, size)


class FileSize:
    """One file's share of an ``ExpectedSizes``: None while unknown."""

    __slots__ = ("_expected", "_over", "size")

    def __init__(self, expected: ExpectedSizes, size: int | None) -> None:
        self._expected = expected
        self.size = size
        self._over = False

    def seen(self, total: int | None) -> None:
        """Its size as the server tells it (a listing may be stale)."""
        if total is None or self._over or total == self.size:
            return
        expected = self._expected
        if self.size is None:
            expected.unknown -= 1
            expected.known += total
        else:
            expected.known += total - self.size
        self.size = total

    def watch(self, progress: ProgressCallback | None) -> ProgressCallback | None:
        """``progress``, learning the size from the first snapshot that has it
        (only while unknown: a listed size is corrected by the result)."""
        if progress is None or self.size is not None:
            return progress
        inner = progress

        def learn(snapshot: ProgressSnapshot) -> None:
            if self.size is None:
                self.seen(snapshot.total)
            inner(snapshot)

        return learn

    def ended(self, result: DownloadResult) -> None:
        """Its result: the bytes it moved, or out of the total (failed or
        skipped: neither counts bytes done)."""
        if self._over:
            return
        if result.error is None and not result.skipped:
            self.seen(result.size)
        else:
            expected = self._expected
            if self.size is None:
                expected.unknown -= 1
            else:
                expected.known -= self.size
            self.size = 0
        self._over = True
