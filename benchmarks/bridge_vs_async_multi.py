"""Our CurlBridge against pycurl.AsyncCurlMulti on the same download.

    .venv/bin/python benchmarks/bridge_vs_async_multi.py [--runs 5]

Same 1 GiB file from nginx on loopback, 8 ranges, the same easy-handle set-up
(512 KiB BUFFERSIZE, one ``pwrite`` per chunk), only the driver differs; the
bridge runs with its budget off (AsyncCurlMulti has none) and, for
reference, the whole engine with its default budget. Runs alternate.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from typing import Any

import pycurl
from common import WORK, GiB, MiB, Nginx, check_output, make_file

import curlmulti_dl
from curlmulti_dl.engine.multi import CurlBridge


def make_handles(url: str, fd: int, size: int, parts: int) -> list[Any]:
    handles = []
    step = size // parts
    for index in range(parts):
        start = index * step
        end = size if index == parts - 1 else start + step
        offset = [start]

        def write(chunk: memoryview, offset: list[int] = offset) -> None:
            os.pwrite(fd, chunk, offset[0])
            offset[0] += len(chunk)

        curl = pycurl.Curl()
        curl.setopt(pycurl.URL, url)
        curl.setopt(pycurl.NOSIGNAL, 1)
        curl.setopt(pycurl.BUFFERSIZE, 512 * 1024)
        curl.setopt(pycurl.RANGE, f"{start}-{end - 1}")
        curl.setopt(pycurl.WRITEFUNCTION, write, use_memoryview=True)
        handles.append(curl)
    return handles


async def with_async_multi(handles: list[Any]) -> None:
    async with pycurl.AsyncCurlMulti() as multi:
        await asyncio.gather(*(multi.perform(c) for c in handles))


async def with_bridge(handles: list[Any]) -> None:
    loop = asyncio.get_running_loop()
    bridge = CurlBridge(loop, budget=None)
    futures = []
    for curl in handles:
        future = loop.create_future()

        def done(code: int, message: str, future: asyncio.Future[None] = future) -> None:
            if code:
                future.set_exception(RuntimeError(message))
            else:
                future.set_result(None)

        bridge.add(curl, done)
        futures.append(future)
    await asyncio.gather(*futures)
    bridge.close()


def run_driver(name: str, url: str, out: str, size: int) -> tuple[float, float]:
    os.sync()
    if name == "engine":
        cpu, start = time.process_time(), time.perf_counter()
        asyncio.run(curlmulti_dl.fetch(url, out, parts=8))
        return size / MiB / (time.perf_counter() - start), (time.process_time() - cpu) / (
            size / GiB
        )
    fd = os.open(out, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        handles = make_handles(url, fd, size, 8)
        driver = with_async_multi if name == "AsyncCurlMulti" else with_bridge
        cpu, start = time.process_time(), time.perf_counter()
        asyncio.run(driver(handles))
        speed = size / MiB / (time.perf_counter() - start)
        used = (time.process_time() - cpu) / (size / GiB)
        for curl in handles:
            curl.close()
    finally:
        os.close(fd)
    return speed, used


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    size = GiB
    source = make_file("b1g.bin", size)
    drivers = ["AsyncCurlMulti", "CurlBridge", "engine"]
    results: dict[str, list[tuple[float, float]]] = {d: [] for d in drivers}
    with Nginx() as nginx:
        url = nginx.url("fast", source.name)
        for _ in range(args.runs):
            for name in drivers:
                out = WORK / f"out-{name}.bin"
                results[name].append(run_driver(name, url, str(out), size))
                check_output(out, source)
    base = statistics.median(s for s, _ in results["AsyncCurlMulti"])
    print(f"1 GiB, 8 ranges, loopback nginx, to disk; medians of {args.runs} runs")
    print("| driver | MiB/s | vs AsyncCurlMulti | CPU-s/GiB | runs (MiB/s) |")
    print("|---|---|---|---|---|")
    for name in drivers:
        speed = statistics.median(s for s, _ in results[name])
        cpu = statistics.median(c for _, c in results[name])
        runs = ", ".join(f"{s:.0f}" for s, _ in results[name])
        print(f"| {name} | {speed:.0f} | {speed / base:.2f}x | {cpu:.2f} | {runs} |")


if __name__ == "__main__":
    main()
