"""Checking a finished file's digests, off the event loop.

A part file is hashed in a worker thread on a copy of its descriptor (a
cancellation may close the file meanwhile); a stream was hashed as it was
written. The comparison itself is pure (``mismatch``).
"""

from __future__ import annotations

import os
from collections.abc import Callable

from .._eventloop import Loop, LoopFuture
from .._exceptions import ChecksumMismatchError, DownloadError, StorageError
from ..protocol.integrity import Checksum, hash_descriptor
from ..protocol.probe import ProbeResult
from .storage import PartFile, Storage
from .stream import StreamFile

__all__ = ["DigestCheck", "expected_digests", "mismatch"]


def expected_digests(probe: ProbeResult | None, checksum: str | None) -> list[Checksum]:
    """The user's checksum first, then those the server sent."""
    expected = list(probe.digests) if probe is not None else []
    if checksum is not None:
        expected.insert(0, Checksum.parse(checksum))
    return expected


def mismatch(
    expected: list[Checksum], actual: dict[str, str], size: int, url: str
) -> ChecksumMismatchError | None:
    for checksum in expected:
        got = actual.get(checksum.algorithm)
        if got != checksum.hex:
            return ChecksumMismatchError(
                f"{checksum.algorithm} of the {size} bytes received is {got}, "
                f"but {checksum.source} is {checksum.hex}",
                url=url,
                algorithm=checksum.algorithm,
                expected=checksum.hex,
                actual=got or "",
            )
    return None


class DigestCheck:
    """One download's digest check: ``start`` it, it calls ``done`` once with
    None (every digest matched) or the error, unless cancelled first."""

    def __init__(self, loop: Loop, url: str) -> None:
        self._loop = loop
        self._url = url
        self._work: LoopFuture[dict[str, str]] | None = None

    def start(
        self,
        storage: Storage,
        size: int,
        expected: list[Checksum],
        done: Callable[[DownloadError | None], None],
    ) -> None:
        if isinstance(storage, StreamFile):
            done(mismatch(expected, storage.digests(), size, self._url))
            return
        assert isinstance(storage, PartFile)
        algorithms = {c.algorithm for c in expected}
        fd = os.dup(storage.fd)

        def hash_copy() -> dict[str, str]:
            try:
                return hash_descriptor(fd, size, algorithms)
            finally:
                os.close(fd)

        def hashed(work: LoopFuture[dict[str, str]]) -> None:
            if work.cancelled():
                return
            error = work.exception()
            if error is not None:
                done(StorageError(f"could not read the file back: {error}", url=self._url))
                return
            done(mismatch(expected, work.result(), size, self._url))

        self._work = self._loop.run_in_executor(None, hash_copy)
        self._work.add_done_callback(hashed)

    def cancel(self) -> None:
        if self._work is not None:
            self._work.cancel()  # the thread finishes on its own copy of the descriptor
