"""Faults side by side: kill -9 then resume, and connections cut mid-way.

    bash benchmarks/setup.sh
    cd benchmarks && ../.venv/bin/python faults.py [--runs 3]

resume: a 256 MiB file over HTTP through tests/servers/farproxy.py (8
connections at 2 MiB/s each, 16 MiB/s in all), each tool killed with SIGKILL
a third of the way (by the bytes the proxy delivered), then run again to the
end. Reported: the bytes the proxy delivered in both runs, as a multiple of
the file. Peers: ``aria2c -c -x 8 -s 8`` (its control file, saved every 60 s
by default), ``axel -n 8`` (its .st state file).

cuts: a 64 MiB file, 8 connections at 4 MiB/s each, 30 connections cut after
a random number of bytes (mean 1.5 MiB, fixed seed) against the same download
without cuts. Reported: time ratio and the bytes delivered beyond the file.

Every output is checked against the source's sha256.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import shutil
import signal
import subprocess
import time
from pathlib import Path

from common import WORK, MiB, median
from far import PYTHON, proxy_stats, start
from report import Report

DATA = WORK / "faults" / "data"


def make(name: str, size: int) -> Path:
    path = DATA / name
    if not path.exists() or path.stat().st_size != size:
        path.parent.mkdir(parents=True, exist_ok=True)
        rng = random.Random(size)
        with open(path, "wb") as f:
            for start_at in range(0, size, 16 * MiB):
                f.write(rng.randbytes(min(16 * MiB, size - start_at)))
    return path


def command(tool: str, url: str, out: Path) -> list[str]:
    if tool == "curlmulti_dl":
        return [PYTHON, "-m", "curlmulti_dl", "-q", "-n", "8", "--retries", "100",
                "--min-part-size", "1M", "-o", str(out), url]  # fmt: skip
    if tool == "aria2c":
        return ["aria2c", "-q", "-c", "-x", "8", "-s", "8", "--min-split-size=1M",
                "--max-tries=0", "--retry-wait=0",
                "-d", str(out.parent), "-o", out.name, url]  # fmt: skip
    if tool == "axel":
        return ["axel", "-q", "-n", "8", "-o", str(out), url]
    raise ValueError(tool)


def same(out: Path, source: Path) -> bool:
    if not out.exists():
        return False
    return hashlib.sha256(out.read_bytes()).digest() == hashlib.sha256(source.read_bytes()).digest()


def resume_run(tool: str, source: Path) -> tuple[float, bool]:
    """Bytes delivered in both runs / file size, and whether the output is right."""
    size = source.stat().st_size
    httpd, (http_port,) = start("httpd.py", "--root", str(DATA))
    proxy, (port, stats_port) = start(
        "farproxy.py", "--target", f"127.0.0.1:{http_port}", "--delay", "0.01",
        "--rate", str(2 * MiB))  # fmt: skip
    out_dir = WORK / "faults" / f"out-{tool}"
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    out = out_dir / source.name
    url = f"http://127.0.0.1:{port}/{source.name}"
    try:
        first = subprocess.Popen(command(tool, url, out), stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)  # fmt: skip
        while proxy_stats(stats_port)["bytes_down"] < size / 3 and first.poll() is None:
            time.sleep(0.01)
        first.send_signal(signal.SIGKILL)  # our own child, by its PID
        first.wait()
        subprocess.run(command(tool, url, out), capture_output=True, timeout=600)
        delivered = proxy_stats(stats_port)["bytes_down"]
    finally:
        proxy.kill()
        httpd.kill()
    return delivered / size, same(out, source)


def cuts_run(tool: str, source: Path, cuts: int) -> tuple[float, float, bool]:
    """Seconds, bytes delivered beyond the file / file size, and correctness."""
    httpd, (http_port,) = start("httpd.py", "--root", str(DATA))
    proxy, (port, stats_port) = start(
        "farproxy.py", "--target", f"127.0.0.1:{http_port}", "--delay", "0.01",
        "--rate", str(4 * MiB), "--cut-mean", str(int(1.5 * MiB)), "--cuts", str(cuts),
        "--seed", "30")  # fmt: skip
    out_dir = WORK / "faults" / f"cuts-{tool}"
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    out = out_dir / source.name
    try:
        started = time.perf_counter()
        subprocess.run(command(tool, f"http://127.0.0.1:{port}/{source.name}", out),
                       capture_output=True, timeout=600)  # fmt: skip
        took = time.perf_counter() - started
        extra = proxy_stats(stats_port)["bytes_down"] - source.stat().st_size
    finally:
        proxy.kill()
        httpd.kill()
    return took, extra / source.stat().st_size, same(out, source)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tools", default="curlmulti_dl,aria2c,axel")
    parser.add_argument("--only", default="resume,cuts")
    args = parser.parse_args()
    tools = args.tools.split(",")
    lines = []
    report = Report("faults", "ratio")
    if "resume" in args.only:
        big = make("resume256.bin", 256 * MiB)
        lines.append("resume: kill -9 at 1/3 of 256 MiB, then again; delivered / file size")
        for tool in tools:
            runs = [resume_run(tool, big) for _ in range(args.runs)]
            ratios = [r for r, _ in runs]
            right = all(ok for _, ok in runs)
            for ratio in ratios:
                report.add("kill -9 + resume: delivered / size", tool, ratio)
            each = ", ".join(f"{r:.3f}" for r in ratios)
            wrong = "" if right else "  WRONG OUTPUT"
            lines.append(f"  {tool}: {median(ratios):.3f}x (runs {each}){wrong}")
    if "cuts" in args.only:
        medium = make("cuts64.bin", 64 * MiB)
        lines.append("cuts: 64 MiB, 30 cut connections vs none; time ratio, extra bytes / file")
        for tool in tools:
            clean = [cuts_run(tool, medium, 0)[0] for _ in range(args.runs)]
            cut = [cuts_run(tool, medium, 30) for _ in range(args.runs)]
            right = all(ok for _, _, ok in cut)
            for seconds, _, _ in cut:
                report.add("30 cuts: time / without", tool, seconds / median(clean))
            lines.append(
                f"  {tool}: {median([c[0] for c in cut]) / median(clean):.2f}x time "
                f"({median([c[0] for c in cut]):.2f} s vs {median(clean):.2f} s), "
                f"{100 * median([c[1] for c in cut]):.2f}% extra"
                f"{'' if right else '  WRONG OUTPUT'}"
            )
    print("\n".join(lines))
    for line in lines:
        report.note(line.strip())
    report.write()


if __name__ == "__main__":
    main()
