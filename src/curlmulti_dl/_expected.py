"""What a batch expects to move, for a display's total and ETA. Pure.

Sizes come from listings (a glob or a directory over FTP, SFTP, S3) before
any file starts, else from each file's first answer. Only counters are kept
(a listing of a million names costs nothing here); a file's own share is
held by its ``FileSize`` while it runs. A file that fails or is skipped
leaves the total, as it leaves the bytes done.

Example::

    expected = ExpectedSizes()
    expected.listed(1000)
    size = expected.file(1000)   # that listed file starts
    size.ended(result)            # its result: the total follows what it moved
    expected.known, expected.unknown, expected.complete
"""

from __future__ import annotations

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

    @property
    def exact(self) -> bool:
        """The total is the batch's, not a lower bound."""
        return self.complete and not self.unknown

    def listed(self, size: int | None) -> None:
        """A listing named a file, of ``size`` bytes if it said."""
        self.files += 1
        if size is None:
            self.unknown += 1
        else:
            self.known += size

    def file(self, listed: int | None, counted: bool = True) -> FileSize:
        """A file starts: ``counted`` by ``listed`` (its listed size, or
        None), or not counted yet (an item given as it is)."""
        if not counted:
            self.listed(listed)
        return FileSize(self, listed)


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
