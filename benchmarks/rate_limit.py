"""How well a shared rate limit holds, seen from the server, beside aria2c.

    .venv/bin/python benchmarks/rate_limit.py [--runs 5] [--limit-mib 6]

Four files of 4 MiB from the project's test server (tests/servers/httpd.py
with ``trace=1``: it notes when every 64 KiB chunk went out, with a small
send buffer). curlmulti_dl runs ``--limit-rate`` with two parts per file;
aria2c ``--max-overall-download-limit`` with ``-x 2 -s 2`` (if installed).
For each run: the server's rate over the middle half of the run (the
sockets' buffers fill at the start and drain at the end) and over the whole
run, as a ratio to the limit. Every output's sha256 is checked.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

from common import WORK, MiB
from report import Report

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(ROOT / ".venv/bin/python")


def server_rates(base: str, tag: str, limit: float) -> tuple[float, float]:
    """(middle half, whole run) rates of the bodies whose target has ``tag``."""
    with urllib.request.urlopen(f"{base}/_stats") as answer:
        log = json.load(answer)["log"]
    steps = []
    for record in log:
        if tag not in record["target"]:
            continue
        before = 0
        for at, sent in record.get("marks", []):
            steps.append((at, sent - before))
            before = sent
    steps.sort()
    first, last = steps[0][0], steps[-1][0]
    low, high = first + 0.25 * (last - first), last - 0.25 * (last - first)
    inside = sum(size for at, size in steps if low <= at < high)
    whole = sum(size for _, size in steps)
    return inside / (high - low) / limit, whole / (last - first) / limit


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--limit-mib", type=float, default=6.0)
    parser.add_argument("--quick", action="store_true", help="one run per tool")
    args = parser.parse_args()
    if args.quick:
        args.runs = 1
    limit = args.limit_mib * MiB
    data = WORK / "rate" / "data"
    data.mkdir(parents=True, exist_ok=True)
    names = [f"r{n}.bin" for n in range(4)]
    for n, name in enumerate(names):
        if not (data / name).exists():
            (data / name).write_bytes(os.urandom(4 * MiB + n))
    digests = {n: hashlib.sha256((data / n).read_bytes()).hexdigest() for n in names}
    server = subprocess.Popen(
        [PYTHON, str(ROOT / "tests/servers/httpd.py"), "--root", str(data)], stdout=subprocess.PIPE
    )
    assert server.stdout is not None
    base = f"http://127.0.0.1:{int(server.stdout.readline().split()[1])}"
    tools = ["curlmulti_dl"] + (["aria2c"] if shutil.which("aria2c") else [])
    found: dict[str, list[tuple[float, float]]] = {t: [] for t in tools}
    try:
        for run in range(args.runs):
            for tool in tools if run % 2 == 0 else tools[::-1]:
                out = WORK / "rate" / f"out-{tool}"
                shutil.rmtree(out, ignore_errors=True)
                out.mkdir(parents=True)
                tag = f"{tool}-{run}"
                urls = [f"{base}/{n}?trace=1&tag={tag}" for n in names]
                if tool == "curlmulti_dl":
                    command = [PYTHON, "-m", "curlmulti_dl", "-q", "-n", "2",
                               "--min-part-size", "1M", "--limit-rate", str(int(limit)),
                               "-d", str(out), *urls]  # fmt: skip
                else:
                    # -Z: each URL its own file (else they are mirrors of one).
                    command = ["aria2c", "-q", "-Z", "-x", "2", "-s", "2", "-j", "4",
                               f"--max-overall-download-limit={int(limit)}", "-d", str(out),
                               *urls]  # fmt: skip
                subprocess.run(command, check=True, timeout=300)
                for name in names:
                    got = hashlib.sha256((out / name).read_bytes()).hexdigest()
                    if got != digests[name]:
                        raise RuntimeError(f"{tool}: {name} differs")
                found[tool].append(server_rates(base, tag, limit))
    finally:
        server.kill()
    report = Report("rate-limit", "rate / limit", lower_is_better=False)
    for tool, rates in found.items():
        for middle, whole in rates:
            report.add("middle half", tool, middle)
            report.add("whole run", tool, whole)
    report.note(f"limit {args.limit_mib:g} MiB/s, 4 x 4 MiB, 2 connections per file, rates "
                "seen at the server; 1.00 is right (not higher, not lower)")  # fmt: skip
    report.write()
    return 0


if __name__ == "__main__":
    sys.exit(main())
