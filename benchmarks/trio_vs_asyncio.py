"""The same download under asyncio and under trio: MiB/s and CPU seconds.

    .venv/bin/python benchmarks/trio_vs_asyncio.py [--runs 5] [--size-mib 512] [--parts 8]

One file from the project's test server on 127.0.0.1 (sendfile, no limit),
fetched by ``curlmulti_dl.fetch`` in a fresh process per run, under
``asyncio.run`` and ``trio.run`` in alternating order. The child reports its
own wall time and CPU time (user + system) for the fetch alone; the output's
sha256 is checked every run. Medians with min and max, and trio's ratio.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
from pathlib import Path

from common import WORK, MiB, make_file, median
from report import Report

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(ROOT / ".venv/bin/python")

CHILD = """
import json, resource, sys, time
import curlmulti_dl
backend, url, out, parts = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])

async def main():
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    result = await curlmulti_dl.fetch(url, out, parts=parts, overwrite=True, resume=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    used = (after.ru_utime - cpu.ru_utime) + (after.ru_stime - cpu.ru_stime)
    print(json.dumps({"wall": wall, "cpu": used, "size": result.size}))

if backend == "trio":
    import trio
    trio.run(main)
else:
    import asyncio
    asyncio.run(main())
"""


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--size-mib", type=int, default=512)
    parser.add_argument("--parts", type=int, default=8)
    parser.add_argument("--quick", action="store_true", help="64 MiB, one run each")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.size_mib = 1, 64
    work = WORK / "trio"
    source = make_file(f"trio-{args.size_mib}.bin", args.size_mib * MiB)
    want = hashlib.sha256(source.read_bytes()).hexdigest()
    server = subprocess.Popen(
        [PYTHON, str(ROOT / "tests/servers/httpd.py"), "--root", str(source.parent)],
        stdout=subprocess.PIPE,
    )
    assert server.stdout is not None
    port = int(server.stdout.readline().split()[1])
    url = f"http://127.0.0.1:{port}/{source.name}"
    found: dict[str, list[dict[str, float]]] = {"asyncio": [], "trio": []}
    try:
        for run in range(args.runs):
            for backend in ("asyncio", "trio") if run % 2 == 0 else ("trio", "asyncio"):
                out = work / f"out-{backend}"
                out.mkdir(parents=True, exist_ok=True)
                done = subprocess.run(
                    [PYTHON, "-c", CHILD, backend, url, str(out), str(args.parts)],
                    capture_output=True, text=True, check=True, timeout=600,
                )  # fmt: skip
                found[backend].append(json.loads(done.stdout.strip().splitlines()[-1]))
                got = out / source.name
                if hashlib.sha256(got.read_bytes()).hexdigest() != want:
                    raise RuntimeError(f"{backend}: the output differs")
                got.unlink()
    finally:
        server.kill()  # our own child, by its PID
    print(f"{args.size_mib} MiB, {args.parts} parts, loopback; medians of {args.runs} "
          "alternating runs")  # fmt: skip
    figures = {}
    speed = Report("trio-vs-asyncio", "MiB/s", lower_is_better=False)
    for backend, runs in found.items():
        speeds = [args.size_mib / r["wall"] for r in runs]
        cpu = [r["cpu"] / (args.size_mib / 1024) for r in runs]
        figures[backend] = (median(speeds), median(cpu))
        for value, per_gib in zip(speeds, cpu, strict=True):
            speed.add("MiB/s", f"curlmulti_dl-{backend}", value)
            speed.add("CPU-s/GiB", f"curlmulti_dl-{backend}", per_gib)
        print(f"  {backend}: {median(speeds):.0f} MiB/s ({min(speeds):.0f}-{max(speeds):.0f}), "
              f"{median(cpu):.2f} CPU-s/GiB ({min(cpu):.2f}-{max(cpu):.2f})")  # fmt: skip
    speed_ratio = figures["trio"][0] / figures["asyncio"][0]
    cpu_ratio = figures["trio"][1] / figures["asyncio"][1]
    print(f"  trio / asyncio: speed {speed_ratio:.2f}x, CPU per GiB {cpu_ratio:.2f}x")
    speed.note(f"{args.size_mib} MiB in {args.parts} parts on loopback; trio / asyncio: speed "
               f"{speed_ratio:.2f}x, CPU per GiB {cpu_ratio:.2f}x (MiB/s: higher is better; "
               "CPU-s/GiB: lower)")  # fmt: skip
    speed.write()
    return 0


if __name__ == "__main__":
    sys.exit(main())
