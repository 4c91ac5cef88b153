"""Batches side by side: many files from one host, and what a long list costs.

    .venv/bin/python benchmarks/batch.py [--runs 3] [--only many,tiny,million]

many     500 files of 1 MiB from nginx on loopback, unthrottled, 16 connections:
         curlmulti-dl -i LIST, curl --parallel --parallel-max 16, parfive
         (max_conn=16, max_splits=1, its best for small files), alternating;
         files per second, medians, every sha256 checked.
tiny     20,000 files of 1 KiB from one -i list: wall time, peak RSS, most open
         descriptors (sampled from /proc at 20 Hz).
million  a list of 1,000,000 lines (missing files: each a quick 404), run for
         20 s and stopped: peak RSS while it runs, and how many files it did.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from common import PYTHON, WORK, MiB, Nginx, median, sha256
from report import Report

HERE = Path(__file__).resolve().parent
PEERS_PYTHON = str(HERE / ".peers-venv/bin/python")
PARFIVE = """
import sys, parfive
dl = parfive.Downloader(max_conn=16, max_splits=1, progress=False, overwrite=True)
for url in open(sys.argv[1]).read().split():
    dl.enqueue_file(url, path=sys.argv[2])
result = dl.download()
sys.exit(1 if result.errors else 0)
"""


def make_files(folder: str, count: int, size: int) -> list[Path]:
    root = WORK / "data" / folder
    root.mkdir(parents=True, exist_ok=True)
    paths = [root / f"{folder}-{i:05d}.bin" for i in range(count)]
    for path in paths:
        if not path.exists() or path.stat().st_size != size:
            path.write_bytes(os.urandom(size))
    return paths


def run_watched(cmd: list[str]) -> tuple[float, int, int]:
    """Wall seconds, peak RSS (KiB) and most open descriptors of ``cmd``."""
    os.sync()
    with tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=errors)
        most = [0]
        running = threading.Event()
        running.set()

        def sample() -> None:
            while running.is_set():
                try:
                    most[0] = max(most[0], len(os.listdir(f"/proc/{process.pid}/fd")))
                except OSError:
                    return
                time.sleep(0.05)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        running.clear()
        if os.waitstatus_to_exitcode(status) != 0:
            errors.seek(0)
            said = errors.read().decode(errors="replace").strip().splitlines()[-3:]
            raise SystemExit(f"{cmd[:3]} failed: {os.waitstatus_to_exitcode(status)}: {said}")
    return wall, usage.ru_maxrss, most[0]


def check(out: Path, sources: list[Path]) -> None:
    for source in sources:
        got = out / source.name
        if not got.exists() or sha256(got) != sha256(source):
            raise SystemExit(f"{got} differs from {source}")


def many(nginx: Nginx, runs: int, count: int = 500) -> list[str]:
    sources = make_files("many", count, 1 * MiB)
    urls = [nginx.url("fast", f"many/{s.name}") for s in sources]
    listing = WORK / "many.txt"
    listing.write_text("\n".join(urls) + "\n")
    out = WORK / "out-many"
    commands = {
        "curlmulti_dl": [PYTHON, "-m", "curlmulti_dl", "-q", "-i", str(listing), "-d", str(out),
                         "--max-host-connections", "16"],
        "curl --parallel": ["curl", "-s", "--parallel", "--parallel-max", "16",
                            "--output-dir", str(out), "--remote-name-all", *urls],
    }  # fmt: skip
    if os.path.exists(PEERS_PYTHON):
        commands["parfive"] = [PEERS_PYTHON, "-c", PARFIVE, str(listing), str(out)]
    walls: dict[str, list[float]] = {tool: [] for tool in commands}
    for index in range(runs):
        order = list(commands)
        order = order[index % len(order) :] + order[: index % len(order)]
        for tool in order:
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir(parents=True)
            wall, _, _ = run_watched(commands[tool])
            check(out, sources)
            walls[tool].append(wall)
    report = Report("batch-many", "files/s", lower_is_better=False)
    for tool, values in walls.items():
        for wall in values:
            report.add(f"{count} x 1 MiB", tool, count / wall)
    report.note("16 connections; parfive max_conn=16, max_splits=1 (its best for small files)")
    report.write()
    base = median(walls["curlmulti_dl"])
    lines = [
        f"many: {count} x 1 MiB, 16 connections, medians of {runs}",
        "",
        "| tool | median s | files/s | runs | time / ours |",
        "|---|---|---|---|---|",
    ]
    for tool, values in walls.items():
        wall = median(values)
        lines.append(
            f"| {tool} | {wall:.2f} | {count / wall:.0f} | {', '.join(f'{v:.2f}' for v in values)}"
            f" | {wall / base:.2f}x |"
        )
    return lines


def tiny(nginx: Nginx) -> list[str]:
    sources = make_files("tiny", 20_000, 1024)
    listing = WORK / "tiny.txt"
    listing.write_text("\n".join(nginx.url("fast", f"tiny/{s.name}") for s in sources) + "\n")
    out = WORK / "out-tiny"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    cmd = [PYTHON, "-m", "curlmulti_dl", "-q", "-i", str(listing), "-d", str(out),
           "--max-host-connections", "16"]  # fmt: skip
    wall, rss, fds = run_watched(cmd)
    check(out, sources)
    return [f"tiny: 20,000 x 1 KiB from one -i list: {wall:.1f} s ({20_000 / wall:.0f} files/s), "
            f"peak RSS {rss / 1024:.0f} MiB, most open descriptors {fds}"]  # fmt: skip


def million(nginx: Nginx) -> list[str]:
    listing = WORK / "million.txt"
    with open(listing, "w") as f:
        for i in range(1_000_000):
            f.write(nginx.url("fast", f"missing/m{i:07d}.nc") + "\n")
    out = Path(tempfile.mkdtemp(dir=WORK))
    cmd = [PYTHON, "-m", "curlmulti_dl", "-q", "-i", str(listing), "-d", str(out), "--json"]
    json_out = WORK / "million.jsonl"
    with open(json_out, "w") as sink:
        os.sync()
        started = time.perf_counter()
        process = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.DEVNULL)
        peak = 0
        while time.perf_counter() - started < 20 and process.poll() is None:
            status = Path(f"/proc/{process.pid}/status").read_text()
            rss = int(next(line.split()[1] for line in status.splitlines()
                           if line.startswith("VmRSS")))  # fmt: skip
            peak = max(peak, rss)
            time.sleep(0.2)
        process.send_signal(signal.SIGINT)
        process.wait(30)
    with open(json_out) as results:
        done = sum(1 for _ in results)
    shutil.rmtree(out, ignore_errors=True)
    return [f"million: a list of 1,000,000 lines, 20 s: {done} files answered (404), "
            f"peak RSS {peak / 1024:.0f} MiB while it ran"]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", default="many,tiny,million")
    parser.add_argument("--quick", action="store_true", help="100 files, one run")
    args = parser.parse_args()
    only = args.only.split(",")
    lines: list[str] = []
    with Nginx(port=18091) as nginx:
        if "many" in only:
            count = 100 if args.quick else 500
            lines += [*many(nginx, 1 if args.quick else args.runs, count), ""]
        if "tiny" in only:
            lines += [*tiny(nginx), ""]
        if "million" in only:
            lines += million(nginx)
    print("\n".join(lines))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
