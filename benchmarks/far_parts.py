"""How many parts per file pay off on a far FTP server, and what they cost the loop.

    .venv/bin/python benchmarks/far_parts.py [--parts 1,2,3,4]

The 16 x 24 MiB job of far.py (same data, same emulator: 100 ms round trip,
2 MiB/s per connection, 30 sessions), in process, one Downloader with 30
slots. A task sleeping 5 ms beside it measures how long the loop was blocked
(libcurl waits for some FTP replies, such as the answer to ABOR, blocking).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import time

from common import WORK
from far import CAP, DELAY, RATE, check, make_data, proxy_logins, start

import curlmulti_dl


async def one(
    base: str, names: list[str], parts: int, min_part: int = 8 * 2**20
) -> tuple[float, int, float, int]:
    out = WORK / "far" / "out-parts"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    stalls: list[float] = []
    done = asyncio.Event()

    async def sleeper() -> None:
        while not done.is_set():
            start = time.perf_counter()
            await asyncio.sleep(0.005)
            stalls.append(time.perf_counter() - start - 0.005)

    watcher = asyncio.create_task(sleeper())
    started = time.monotonic()
    async with curlmulti_dl.Downloader(max_host_connections=CAP) as dl:
        fetches = (
            dl.fetch(f"{base}/{n}", out, parts=parts, ftp_min_part_size=min_part) for n in names
        )
        results = await asyncio.gather(*fetches)
    elapsed = time.monotonic() - started
    done.set()
    await watcher
    check(out, names)  # every file's sha256 (after the watch: it blocks the loop)
    blocked = sum(s for s in stalls if s > 0.02)
    return elapsed, sum(r.ranges for r in results), blocked, sum(s > 0.05 for s in stalls)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--parts", default="1,2,3,4")
    parser.add_argument("--min-part-mib", type=float, default=8.0, help="ftp_min_part_size")
    args = parser.parse_args()
    names = make_data()["large"]
    root = str(WORK / "far" / "data")
    ftpd, (ftp_port,) = start("ftpd.py", "--root", root, "--max-cons-per-ip", str(CAP))
    far = ["--target", f"127.0.0.1:{ftp_port}", "--delay", str(DELAY), "--rate", str(RATE), "--ftp"]
    proxy, (port, stats) = start("farproxy.py", *far)
    print("parts | time s | ranges | logins | loop blocked s | stalls > 50 ms")
    try:
        for parts in (int(p) for p in args.parts.split(",")):
            before = proxy_logins(stats)
            elapsed, ranges, blocked, stalls = asyncio.run(
                one(f"ftp://127.0.0.1:{port}", names, parts, int(args.min_part_mib * 2**20))
            )
            logins = proxy_logins(stats) - before
            print(f"{parts} | {elapsed:.2f} | {ranges} | {logins} | {blocked:.2f} | {stalls}")
    finally:
        proxy.kill()
        ftpd.kill()


if __name__ == "__main__":
    main()
