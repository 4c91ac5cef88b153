"""``--json``: one JSON object per finished file, then one for the batch.
Nothing else goes to standard output, so the lines can be read one by one
(``jq -c``, ``json.loads`` per line). Pure formatting.

Every line is valid UTF-8 JSON whatever the names: a path with bytes that
are not UTF-8 (a server's name, written as the server gave it) is shown with
``\\xNN`` escapes in ``path``, and ``path_raw`` holds its exact bytes in
base64; control characters in any text are escaped as well."""

from __future__ import annotations

import base64
import json
import os
from typing import Any

from .._batch import BatchSummary
from .._progress import DownloadResult
from ..view.printable import has_raw_bytes, printable

__all__ = ["result_line", "summary_line"]


def result_line(result: DownloadResult) -> str:
    """``{"url", "ok", "path", "size", "elapsed", "queued", "connections",
    "skipped", "error"}``; ``error`` is null or ``{"type", "message"}`` (and
    ``status`` for an HTTP status); ``path_raw`` for a path that is not UTF-8."""
    path = str(result.path) if result.path is not None else None
    record: dict[str, Any] = {
        "url": printable(result.url),
        "ok": result.ok,
        "path": printable(path) if path is not None else None,
        "size": result.size,
        "elapsed": round(result.elapsed, 3),
        "queued": round(result.queued, 3),
        "connections": result.connections,
        "skipped": result.skipped,
        "error": None,
    }
    if path is not None and has_raw_bytes(path):
        record["path_raw"] = base64.b64encode(os.fsencode(path)).decode("ascii")
    error = result.error
    if error is not None:
        record["error"] = {"type": type(error).__name__, "message": printable(str(error))}
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
            "failed": summary.failed_count,
            "bytes": summary.bytes,
            "elapsed": round(summary.elapsed, 3),
            "failures": [
                {"url": printable(r.url), "error": printable(str(r.error))} for r in summary.failed
            ],
        }
    }
    return json.dumps(record, ensure_ascii=False)
