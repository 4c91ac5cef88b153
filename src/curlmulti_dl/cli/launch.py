"""The command's entry point: the first connection is on its way before the
rest of the program loads.

Loading Python, asyncio and this package takes about 0.1 s, as long as a
TCP handshake to a far server. So for one HTTP(S) URL the connection is
opened first (``early``) and handed to the first request when it is
connected (``engine.preconnect``).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from .early import EarlyConnection

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """``curlmulti-dl``: connect first, then load the program and run it."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        early = EarlyConnection.for_arguments(args)  # may wait for the name's lookup
        from .main import main as run  # the point of this module
    except KeyboardInterrupt:
        print("curlmulti-dl: interrupted", file=sys.stderr)
        return 130
    return run(args, early)
