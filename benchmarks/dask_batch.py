"""A batch on a Dask cluster: files per second on 1 and 2 workers, the most
connections the server saw against the cap, and the worker loop's lateness.

    .venv/bin/python benchmarks/dask_batch.py [--runs 3] [--files 2000] [--quick]

The server is tests/servers/httpd.py on 127.0.0.1 (it counts the connections
open at once); 2,000 files of 64 KiB under one cap of 8 connections per
host, LocalClusters of 1 and 2 worker processes (alternating). Then, on a
1-worker cluster, a task sleeping 10 ms in a loop on the worker's event loop
(where its heartbeats run too) beside a full-speed 1 GiB download in 8 parts
from nginx: how late it woke (p50, p99, max). Every sha256 is checked.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from common import PYTHON, WORK, GiB, MiB, Nginx, check_output, compile_sources, make_file
from report import Report

ROOT = Path(__file__).resolve().parent.parent
SERVERS = ROOT / "tests" / "servers"


def start_httpd(root: Path) -> tuple[subprocess.Popen[bytes], str]:
    process = subprocess.Popen([PYTHON, str(SERVERS / "httpd.py"), "--root", str(root)],
                               stdout=subprocess.PIPE)  # fmt: skip
    assert process.stdout is not None
    port = int(process.stdout.readline().split()[1])
    return process, f"http://127.0.0.1:{port}"


def server_stats(base: str) -> dict[str, int]:
    found = json.load(urllib.request.urlopen(f"{base}/_stats"))
    return {k: v for k, v in found.items() if k != "log"}


def leases_back(base: str) -> None:
    """Wait until the workers have given back their leases of ``base``'s host
    (its connections closed), at most 10 s."""
    import distributed

    from curlmulti_dl.leases.semaphore import semaphore_name

    semaphore = distributed.Semaphore(name=semaphore_name(base.split("//")[1]))
    deadline = time.monotonic() + 10
    while semaphore.get_value() and time.monotonic() < deadline:
        time.sleep(0.05)


async def sleeper(seconds: float) -> list[float]:
    """On the worker's loop: how late each 10 ms sleep woke, in ms."""
    late = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        before = time.perf_counter()
        await asyncio.sleep(0.010)
        late.append((time.perf_counter() - before - 0.010) * 1000)
    return late


def cluster(workers: int) -> object:
    import distributed

    local = distributed.LocalCluster(n_workers=workers, threads_per_worker=4, processes=True,
                                     host="127.0.0.1", dashboard_address=None,
                                     worker_dashboard_address=None,
                                     local_directory=str(WORK / "dask"))  # fmt: skip
    return distributed.Client(local)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--quick", action="store_true", help="one run, 400 files, 256 MiB")
    args = parser.parse_args()
    runs, count, big = (1, 400, 256 * MiB) if args.quick else (args.runs, args.files, GiB)
    compile_sources()
    from curlmulti_dl.dask import fetch_on_cluster

    root = WORK / "dask-data"
    (root / "f").mkdir(parents=True, exist_ok=True)
    digests = {}
    for index in range(count):
        path = root / "f" / f"f{index:05d}.bin"
        if not path.exists():
            path.write_bytes(os.urandom(64 * 1024))
        digests[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
    cap = 8
    speed = Report("dask-batch", "files/s", lower_is_better=False)
    peaks: dict[int, list[int]] = {1: [], 2: []}
    for index in range(runs):
        for workers in (1, 2) if index % 2 == 0 else (2, 1):
            httpd, base = start_httpd(root)
            out = WORK / "dask-out"
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir(parents=True)
            client = cluster(workers)
            try:
                urls = [f"{base}/f/{name}" for name in sorted(digests)]
                started = time.perf_counter()
                batch = fetch_on_cluster(client, urls, out, max_host_connections=cap,
                                         chunk_size=100)  # fmt: skip
                results = list(batch)
                wall = time.perf_counter() - started
                leases_back(base)
            finally:
                client.close()  # type: ignore[attr-defined]
            if [r for r in results if not r.ok] or len(results) != count:
                raise RuntimeError(f"{workers} workers: not every file arrived")
            for name, digest in digests.items():
                if hashlib.sha256((out / name).read_bytes()).hexdigest() != digest:
                    raise RuntimeError(f"{name} differs")
            # Asked once every connection is closed: /_stats's own is then alone.
            peaks[workers].append(server_stats(base)["max_active"])
            httpd.kill()
            speed.add(f"{count} x 64 KiB, cap {cap}", f"curlmulti_dl {workers} worker(s)",
                      count / wall)  # fmt: skip
    speed.note(
        f"LocalCluster of worker processes, 4 threads each; fetch_on_cluster in chunks "
        f"of 100, max_host_connections={cap}; medians of {runs} alternating runs"
    )
    for workers, seen in peaks.items():
        speed.note(f"{workers} worker(s): most connections open at once at the server "
                   f"{max(seen)} (cap {cap}); runs: {seen}")  # fmt: skip
    speed.write()

    source = make_file(f"dask{big // MiB}.bin", big)
    lateness = Report("dask-loop", "ms late")
    with Nginx(port=18093) as nginx:
        client = cluster(1)
        try:
            for _ in range(runs):
                out = WORK / "dask-big"
                shutil.rmtree(out, ignore_errors=True)
                out.mkdir(parents=True)
                url = nginx.url("fast", source.name)
                sleep_task = client.submit(sleeper, 4.0, pure=False)  # type: ignore[attr-defined]
                time.sleep(0.5)
                started = time.perf_counter()
                results = list(fetch_on_cluster(client, [url], out, max_host_connections=8,
                                                parts=8))  # fmt: skip
                wall = time.perf_counter() - started
                late = sleep_task.result()
                if not results[0].ok:
                    raise RuntimeError(f"the big file failed: {results[0].error}")
                check_output(out / source.name, source)
                late.sort()
                lateness.add("p50", "worker loop", statistics.median(late))
                lateness.add("p99", "worker loop", late[int(len(late) * 0.99)])
                lateness.add("max", "worker loop", late[-1])
                lateness.note(f"{big // MiB} MiB in 8 parts at {big / MiB / wall:.0f} MiB/s "
                              f"(with the cluster's set-up) while the sleeper ran")  # fmt: skip
        finally:
            client.close()  # type: ignore[attr-defined]
    lateness.note(
        "a task sleeping 10 ms in a loop on the worker's event loop (its heartbeats "
        "run there too) during a full-speed download on the same worker"
    )
    lateness.write()
    return 0


if __name__ == "__main__":
    sys.exit(main())
