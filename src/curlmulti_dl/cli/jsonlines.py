"""``--json``: one JSON object per finished file, then one for the batch.
Nothing else goes to standard output, so the lines can be read one by one
(``jq -c``, ``json.loads`` per line). Pure formatting."""

from __future__ import annotations

import json
from typing import Any

from .._batch import BatchSummary
from .._progress import DownloadResult

__all__ = ["result_line", "summary_line"]


def result_line(result: DownloadResult) -> str:
    """``{"url", "ok", "path", "size", "elapsed", "queued", "connections",
    "skipped", "error"}``; ``error`` is null or ``{"type", "message"}`` (and
    ``status`` for an HTTP status)."""
    record: dict[str, Any] = {
        "url": result.url,
        "ok": result.ok,
        "path": str(result.path) if result.path.parts else None,
        "size": result.size,
        "elapsed": round(result.elapsed, 3),
        "queued": round(result.queued, 3),
        "connections": result.connections,
        "skipped": result.skipped,
        "error": None,
    }
    error = result.error
    if error is not None:
        record["error"] = {"type": type(error).__name__, "message": str(error)}
        status = getattr(error, "status", None)
        if status is not None:
            record["error"]["status"] = status
    return json.dumps(record, ensure_ascii=False)


def summary_line(summary: BatchSummary) -> str:
    """``{"summary": {...}}``: counts, bytes, seconds, and the failed URLs."""
    record = {
        "summary": {
            "files": summary.total,
            "downloaded": summary.succeeded,
            "skipped": summary.skipped,
            "failed": summary.failures,
            "bytes": summary.bytes,
            "elapsed": round(summary.elapsed, 3),
            "failures": [{"url": r.url, "error": str(r.error)} for r in summary.failed],
        }
    }
    return json.dumps(record, ensure_ascii=False)
