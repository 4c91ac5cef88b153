"""How the test servers live: bound to 127.0.0.1 by their own code, gone
when the test process that started them is, or after ``lifetime`` seconds.
(Imported by the server scripts, which run with this directory on the path.)"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any


def watch_parent(parent: int, lifetime: float) -> None:
    """Exit this process when ``parent`` is gone or ``lifetime`` has passed."""
    deadline = time.monotonic() + lifetime
    while time.monotonic() < deadline and os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)


def exit_with_parent(lifetime: float) -> None:
    threading.Thread(target=watch_parent, args=(os.getppid(), lifetime), daemon=True).start()


def announce_and_serve(server: Any, lifetime: float) -> None:
    """A ``socketserver`` server: ``PORT <n>`` on stdout, then serve until
    the parent goes."""
    exit_with_parent(lifetime)
    print(f"PORT {server.server_address[1]}", flush=True)
    sys.stdout.close()
    server.serve_forever(poll_interval=0.5)
