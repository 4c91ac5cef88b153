"""100,000 items queued against a server that never answers: how late a 10 ms
sleeper wakes while the batch holds its look-ahead, and what the process holds.

    .venv/bin/python benchmarks/queued.py [--items 100000] [--seconds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import socket
import statistics
import tempfile
import threading
import time

import curlmulti_dl


def listener() -> tuple[socket.socket, list[socket.socket]]:
    sock = socket.create_server(("127.0.0.1", 0), backlog=128)
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(sock.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    return sock, held


async def run(items: int, seconds: float, port: int, out: str) -> dict[str, float]:
    urls = (f"http://127.0.0.1:{port}/a/f{i:07d}.nc" for i in range(items))
    lateness: list[float] = []
    async with curlmulti_dl.Downloader(max_host_connections=16) as dl:
        batch = dl.fetch_many(urls, out, resume=False, parts=1)
        async with batch:
            started = time.monotonic()
            while time.monotonic() - started < seconds:
                before = time.perf_counter()
                await asyncio.sleep(0.01)
                lateness.append((time.perf_counter() - before - 0.01) * 1000)
            fds = len(os.listdir("/proc/self/fd"))
            await batch.aclose()
    lateness.sort()
    return {
        "p50": statistics.median(lateness),
        "p99": lateness[int(len(lateness) * 0.99)],
        "max": lateness[-1],
        "fds": fds,
        "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    sock, held = listener()
    with tempfile.TemporaryDirectory() as out:
        found = asyncio.run(run(args.items, args.seconds, sock.getsockname()[1], out))
    sock.close()
    for conn in held:
        conn.close()
    print(
        f"{args.items} items queued, {args.seconds:g} s: sleeper lateness"
        f" p50 {found['p50']:.2f} ms,"
        f" p99 {found['p99']:.2f} ms, max {found['max']:.2f} ms; {found['fds']:.0f} descriptors"
        f" open, peak RSS {found['rss']:.0f} MiB"
    )


if __name__ == "__main__":
    main()
