"""What a finished download tells its caller: the notice and the result. Pure."""

from __future__ import annotations

from pathlib import Path

from .._config import DownloadOptions
from .._progress import DownloadResult
from .._redact import redact_url
from ..protocol.probe import ProbeResult

__all__ = ["notice_for", "result_of"]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def notice_for(
    probe: ProbeResult, options: DownloadOptions, planned: int, min_part: int, option: str
) -> str | None:
    """Why the file runs on fewer connections than ``options.parts``, if it does."""
    asked = options.parts
    if planned >= asked:
        return None
    if probe.single_reason is not None:
        return f"1 connection instead of {asked}: {probe.single_reason}"
    if probe.size is None or probe.size == 0:
        return None
    return (
        f"{_plural(planned, 'connection')} instead of {asked}: {probe.size} bytes make "
        f"{_plural(planned, 'part')} of at least {option}={min_part} bytes"
    )


def result_of(
    public_url: str,
    probe: ProbeResult | None,
    path: Path,
    size: int,
    elapsed: float,
    counts: tuple[int, int, int, int],
    notice: str | None,
    queued: float = 0.0,
) -> DownloadResult:
    """``counts``: most connections at once, ranges, splits, reconnects."""
    connections, ranges, splits, reconnects = counts
    return DownloadResult(
        url=public_url,
        effective_url=redact_url(probe.effective_url) if probe else public_url,
        path=path,
        size=size,
        elapsed=elapsed,
        connections=connections,
        ranges=ranges,
        splits=splits,
        reconnects=reconnects,
        etag=probe.etag if probe else None,
        last_modified=probe.last_modified if probe else None,
        notice=notice,
        queued=queued,
    )
