"""The directories ``-i`` lines name (``dir=``), made below ``-d``'s as aria2c does."""

from __future__ import annotations

import os
from pathlib import Path

from .._batch import DownloadRequest

__all__ = ["make_directory"]


def make_directory(request: DownloadRequest, base: str | None) -> None:
    """Create the directory ``request``'s ``dir=`` line names, below ``base``."""
    if request.dest is None:
        return
    text = os.fspath(request.dest)
    directory = Path(text) if text.endswith(os.sep) else Path(text).parent
    if str(directory) not in ("", "."):
        (Path(base or ".") / directory).mkdir(parents=True, exist_ok=True)
