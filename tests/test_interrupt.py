"""Interrupting a download: the sync wrapper inside a running loop (Jupyter)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from .conftest import Server, assert_left_resumable

NOTEBOOK_CELL = textwrap.dedent(
    """
    import asyncio, signal, sys
    import curlmulti_dl

    if sys.argv[3] == "ipykernel":
        # ipykernel raises KeyboardInterrupt in the main thread on SIGINT.
        signal.signal(signal.SIGINT, signal.default_int_handler)

    async def cell():
        return curlmulti_dl.download(sys.argv[1], sys.argv[2], parts=4)

    try:
        if sys.argv[3] == "ipykernel":
            loop = asyncio.new_event_loop()
            loop.run_until_complete(cell())
        else:
            asyncio.run(cell())  # its first SIGINT only cancels the main task
    except KeyboardInterrupt:
        print("interrupted", flush=True)
        sys.exit(130)
    print("finished", flush=True)
    """
)


@pytest.mark.parametrize("style", ["asyncio.run", "ipykernel"])
def test_ctrl_c_cancels_download_inside_running_loop(
    http_server: Server, tmp_path: Path, style: str
) -> None:
    target = tmp_path / "out.bin"
    # 48 MiB at 4 x 1 MB/s: about 12 s if it ran on to the end.
    url = http_server.url("huge.bin", rate=1_000_000)
    process = subprocess.Popen(
        [sys.executable, "-c", NOTEBOOK_CELL, url, str(target), style],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    part = tmp_path / "out.bin.part"
    deadline = time.monotonic() + 20
    while not part.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert part.exists(), "download never started"
    time.sleep(0.3)
    interrupted_at = time.monotonic()
    os.kill(process.pid, signal.SIGINT)  # our own child, by its PID
    out, err = process.communicate(timeout=30)
    took = time.monotonic() - interrupted_at
    assert "interrupted" in out, (out, err)
    assert process.returncode == 130
    assert took < 5, f"the download ran on for {took:.1f} s after Ctrl+C"
    # No NAME: NAME.part and the journal that vouches for its bytes.
    assert (tmp_path / "out.bin.part.journal").exists(), (out, err)
    assert_left_resumable(tmp_path, "out.bin")
