"""The local copy and its stamps: what an existing file at the destination
says of itself (size, date, the ETag a finished download leaves in an
extended attribute), and the stamps a finished file gets, so that a later
run can tell the remote file's complete copy from another file."""

from __future__ import annotations

import contextlib
import email.utils
from dataclasses import dataclass

from ..protocol.probe import ProbeResult

__all__ = ["ETAG_ATTRIBUTE", "URL_ATTRIBUTE", "LocalCopy", "remote_stamp"]

#: Extended attributes that outlive the journal (freedesktop's name for the URL).
ETAG_ATTRIBUTE = "user.curlmulti_dl.etag"
URL_ATTRIBUTE = "user.xdg.origin.url"


def remote_stamp(probe: ProbeResult | None, public_url: str) -> tuple[float | None, dict[str, str]]:
    """The modification time and extended attributes a finished file gets."""
    if probe is None:
        return None, {}
    mtime = None
    if probe.last_modified:
        with contextlib.suppress(TypeError, ValueError, IndexError, OverflowError):
            mtime = email.utils.parsedate_to_datetime(probe.last_modified).timestamp()
    attributes = {URL_ATTRIBUTE: public_url}
    if probe.etag:
        attributes[ETAG_ATTRIBUTE] = probe.etag
    return mtime, attributes


@dataclass(frozen=True)
class LocalCopy:
    """An existing file at the destination: what tells whether it is already
    the remote file (its size, and the stamps a finished download leaves)."""

    size: int
    mtime: float
    etag: str | None

    def is_copy_of(self, probe: ProbeResult, public_url: str) -> bool:
        if probe.size is None or probe.size != self.size:
            return False
        if probe.etag and self.etag:
            return probe.etag == self.etag
        mtime, _ = remote_stamp(probe, public_url)
        return mtime is not None and abs(mtime - self.mtime) < 1.0
