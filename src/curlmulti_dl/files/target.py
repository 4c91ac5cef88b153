"""Where one fetch writes, decided before any request: the destination, an
existing file to compare with the remote one, a stream opened (one
connection), and the options that follow from it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from .._config import DownloadOptions
from .._exceptions import DestinationExistsError
from .destination import Dest, Destination, local_copy_at, resolve_destination
from .stamps import LocalCopy
from .stream import StreamFile, open_stream

__all__ = ["Target", "prepare_target"]


@dataclass(frozen=True)
class Target:
    destination: Destination
    options: DownloadOptions
    local_copy: LocalCopy | None  # an existing file, skipped if it is the remote one
    stream: StreamFile | None
    notice: str | None


async def prepare_target(url: str, dest: Dest, options: DownloadOptions) -> Target:
    """Raises ``DestinationExistsError`` for an existing non-regular file that
    may not be replaced, and ``StorageError`` when a stream cannot be opened."""
    local = None
    try:
        destination = resolve_destination(url, dest, overwrite=options.overwrite)
    except DestinationExistsError:
        # Not to be replaced: the first answer tells whether it is complete.
        destination = resolve_destination(url, dest, overwrite=True)
        local = local_copy_at(destination.path)
        if local is None:
            raise
    stream, notice = None, None
    if destination.is_stream:
        if options.parts > 1:
            notice = f"1 connection instead of {options.parts}: {destination.path} is a stream"
            options = dataclasses.replace(options, parts=1)
        stream = await open_stream(destination, url, options.connect_timeout)
    return Target(destination, options, local, stream, notice)
