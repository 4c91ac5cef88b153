"""Loop responsiveness against throughput, by per-iteration budget.

    .venv/bin/python benchmarks/responsiveness.py [--runs 5] [--budgets off,5,10,20]

A task sleeping 10 ms in a loop runs beside a full-speed 2 GiB download (8
parts, nginx on loopback, to disk). For each budget (milliseconds of libcurl
work per loop iteration; "off" = unbounded) it reports MiB/s and how late the
sleeper woke (p50, p99, max), medians over runs that alternate budgets.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time

from common import WORK, GiB, MiB, Nginx, check_output, make_file
from report import Report

import curlmulti_dl


async def one_run(url: str, budget: float | None, size: int) -> tuple[float, list[float]]:
    lateness: list[float] = []
    done = asyncio.Event()

    async def sleeper() -> None:
        while not done.is_set():
            start = time.perf_counter()
            await asyncio.sleep(0.010)
            lateness.append(time.perf_counter() - start - 0.010)

    out = WORK / "out-resp.bin"
    async with curlmulti_dl.Downloader(loop_budget=budget) as dl:
        task = asyncio.create_task(sleeper())
        await asyncio.sleep(0.05)
        lateness.clear()
        result = await dl.fetch(url, out, parts=8)
        done.set()
        await task
    return result.size / MiB / result.elapsed, lateness


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--budgets", default="off,5,10,20")
    parser.add_argument("--size-gib", type=float, default=2)
    args = parser.parse_args()
    budgets = [None if b == "off" else float(b) / 1000 for b in args.budgets.split(",")]
    size = int(args.size_gib * GiB)
    source = make_file("u2g.bin" if size == 2 * GiB else f"r{size}.bin", size)
    rows: dict[float | None, list[tuple[float, float, float, float]]] = {b: [] for b in budgets}
    with Nginx() as nginx:
        url = nginx.url("fast", source.name)
        for _ in range(args.runs):
            for budget in budgets:
                os.sync()
                speed, late = asyncio.run(one_run(url, budget, size))
                check_output(WORK / "out-resp.bin", source)
                q = statistics.quantiles(late, n=100, method="inclusive")
                rows[budget].append((speed, q[49] * 1000, q[98] * 1000, max(late) * 1000))
    off = statistics.median(r[0] for r in rows[None]) if None in rows else None
    speeds = Report("responsiveness", "MiB/s", lower_is_better=False)
    lateness = Report("responsiveness-lateness", "ms, p99 sleeper lateness")
    for budget, found in rows.items():
        tool = "curlmulti_dl-" + ("no-budget" if budget is None else f"{budget * 1000:g}ms")
        for speed_value, _, p99_value, _ in found:
            speeds.add(f"{args.size_gib:g} GiB, 8 parts", tool, speed_value)
            lateness.add(f"{args.size_gib:g} GiB, 8 parts", tool, p99_value)
    for report in (speeds, lateness):
        report.note("a task sleeping 10 ms beside a full-speed download, per loop budget")
        report.write()
    print(f"{args.size_gib:g} GiB, 8 parts, medians of {args.runs} runs; sleeper lateness in ms")
    print("| budget | MiB/s | cost vs off | p50 | p99 | max | max of runs |")
    print("|---|---|---|---|---|---|---|")
    for budget in budgets:
        r = rows[budget]
        speed = statistics.median(x[0] for x in r)
        cost = f"{100 * (1 - speed / off):.0f}%" if off else "-"
        label = "off" if budget is None else f"{budget * 1000:g} ms"
        p50, p99, top = (statistics.median(x[i] for x in r) for i in (1, 2, 3))
        worst = max(x[3] for x in r)
        print(
            f"| {label} | {speed:.0f} | {cost} | {p50:.1f} | {p99:.1f} | {top:.1f} | {worst:.1f} |"
        )


if __name__ == "__main__":
    main()
