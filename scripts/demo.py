"""`make demo`: a real download on loopback, with 1 and then 8 connections.

Starts tests/servers/httpd.py on 127.0.0.1 with a per-connection speed cap,
serves a generated file, downloads it with the curlmulti-dl CLI (progress on
screen), checks each copy's sha256 and prints the speed-up. The server is
stopped at the end (and exits on its own if this script dies).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIZE = 48 * 1024 * 1024
RATE = 6 * 1024 * 1024  # bytes per second, per connection


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="curlmulti-demo-") as tmp:
        served, out = Path(tmp, "served"), Path(tmp, "out")
        served.mkdir()
        out.mkdir()
        source = served / "sample.bin"
        source.write_bytes(os.urandom(SIZE))
        expected = sha256(source)
        server = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "tests/servers/httpd.py"),
                "--root",
                str(served),
                "--lifetime",
                "300",
            ],
            stdout=subprocess.PIPE,
        )
        try:
            assert server.stdout is not None
            port = int(server.stdout.readline().split()[1])
            url = f"http://127.0.0.1:{port}/sample.bin?rate={RATE}"
            print(f"Serving {SIZE >> 20} MiB at {RATE >> 20} MiB/s per connection: {url}\n")
            timings = {}
            for parts in (1, 8):
                target = out / f"sample-{parts}.bin"
                print(f"curlmulti-dl -n {parts} -o {target.name} URL")
                started = time.monotonic()
                done = subprocess.run(
                    [sys.executable, "-m", "curlmulti_dl", "-n", str(parts), "-o", str(target), url]
                )
                timings[parts] = time.monotonic() - started
                if done.returncode != 0:
                    print(f"demo: download with {parts} connection(s) failed", file=sys.stderr)
                    return 1
                if sha256(target) != expected:
                    print(f"demo: sha256 mismatch with {parts} connection(s)", file=sys.stderr)
                    return 1
                print(f"sha256 OK ({expected[:16]}...)  {timings[parts]:.2f} s\n")
            print(f"Speed-up with 8 connections: {timings[1] / timings[8]:.1f}x")
        finally:
            server.terminate()
            server.wait(5)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
