"""The Himawari job through the far-server emulator, with lftp, aria2c and parfive.

    .venv/bin/python benchmarks/far.py [--runs 3] [--only small,large]
        [--tools curlmulti_dl,curlmulti_dl-glob,lftp,aria2c,parfive]

An FTP server (pyftpdlib, at most 30 sessions per client, USER + PASS login)
behind tests/servers/farproxy.py: 100 ms round trip, 2 MiB/s per connection.
Jobs: 60 files of 40-400 KB (one hour of band 13) and 16 files of 24 MiB
(full-disk segments); one 256 MiB file over FTP with 8 connections (against
``lftp pget -n 8``); one 64 MiB file over HTTP, 8 connections at 4 MiB/s
each (against axel). Each tool at its best setting found within 30 sessions;
runs alternate. Every output's sha256 is checked; logins are counted at the
proxy. parfive runs from its own venv (benchmarks/setup.sh makes it).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from common import WORK, MiB, median
from report import Report

ROOT = Path(__file__).resolve().parent.parent
SERVERS = ROOT / "tests" / "servers"
PYTHON = str(ROOT / ".venv/bin/python")
PEERS_PYTHON = str(ROOT / "benchmarks/.peers-venv/bin/python")
DELAY, RATE, CAP = 0.05, 2 * MiB, 30

PARFIVE = """
import sys, parfive
urls, out = sys.argv[2:], sys.argv[1]
dl = parfive.Downloader(max_conn=30, max_splits=1, progress=False, overwrite=True)
for url in urls:
    dl.enqueue_file(url, path=out)
result = dl.download()
sys.exit(1 if result.errors else 0)
"""


# curlmulti_dl-late: the same command with --no-preconnect, which shows what
# opening the ranges' connections ahead of the size buys.
TOOLS_FOR = {
    "ftp256": ["curlmulti_dl", "lftp"],
    "http64": ["curlmulti_dl", "curlmulti_dl-late", "axel"],
}
# curlmulti_dl-glob: the small job by one glob (*B13*), the large one by its
# directory URL: one listing, then the files (their sizes known from it).
OURS = ("curlmulti_dl", "curlmulti_dl-late", "curlmulti_dl-glob")


def make_data() -> dict[str, list[str]]:
    rng = random.Random(2023_11_23)
    base = WORK / "far" / "data"
    jobs: dict[str, list[str]] = {"small": [], "large": [], "ftp256": [], "http64": []}
    jobs["ftp256"].append("one/HS_H09_FLDK_256M.DAT")
    jobs["http64"].append("one/http64.bin")
    for n in range(60):
        jobs["small"].append(f"small/HS_H09_B13_S{n:02d}.DAT")
    for n in range(16):
        jobs["large"].append(f"large/HS_H09_FLDK_S{n:02d}.DAT")
    for name in [n for names in jobs.values() for n in names]:
        path = base / name
        size = {"small": rng.randint(40_000, 400_000), "large": 24 * MiB}.get(
            name.split("/")[0], 256 * MiB if "256M" in name else 64 * MiB
        )
        if not path.exists() or path.stat().st_size != size:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "wb") as f:
                for start in range(0, size, 16 * MiB):
                    f.write(rng.randbytes(min(16 * MiB, size - start)))
    return jobs


def start(script: str, *args: str) -> tuple[subprocess.Popen[bytes], list[int]]:
    process = subprocess.Popen([PYTHON, str(SERVERS / script), *args], stdout=subprocess.PIPE)
    assert process.stdout is not None
    first = process.stdout.readline().split()
    ports = [int(first[1])]
    if script == "farproxy.py":
        ports.append(int(process.stdout.readline().split()[1]))
    return process, ports


def far_ftp(try_port_21: bool) -> tuple[list[subprocess.Popen[bytes]], str, int, bool]:
    """The FTP server (at most CAP sessions) behind the emulator (DELAY, RATE).

    Its processes (kill them when done), base URL, the proxy's stats port, and
    whether the proxy got port 21: parfive's FTP client ignores the port in a
    URL, so the proxy takes 21 when it can (root, nothing else there).
    """
    ftpd, (ftp_port,) = start(
        "ftpd.py", "--root", str(WORK / "far" / "data"), "--max-cons-per-ip", str(CAP)
    )
    far = ["--target", f"127.0.0.1:{ftp_port}", "--delay", str(DELAY), "--rate", str(RATE)]
    on_21 = False
    if try_port_21:
        try:
            proxy, (port, stats) = start("farproxy.py", *far, "--ftp", "--port", "21")
            on_21 = True
        except (IndexError, ValueError):
            pass  # the port is taken or not ours to bind
    if not on_21:
        proxy, (port, stats) = start("farproxy.py", *far, "--ftp")
    return [proxy, ftpd], f"ftp://127.0.0.1:{port}", stats, on_21


def proxy_stats(stats_port: int) -> dict[str, Any]:
    """The far-server emulator's counters (tests/servers/farproxy.py)."""
    with socket.create_connection(("127.0.0.1", stats_port)) as sock:
        return json.loads(sock.makefile("rb").read())  # type: ignore[no-any-return]


def proxy_logins(stats_port: int) -> int:
    return int(proxy_stats(stats_port)["logins"])


def commands(tool: str, job: str, base: str, names: list[str], out: Path) -> list[str]:
    urls = [f"{base}/{name}" for name in names]
    host = base.split("://")[1]
    folder = names[0].split("/")[0]
    if tool == "curlmulti_dl-glob":
        urls = [f"{base}/{folder}/*B13*" if job == "small" else f"{base}/{folder}/"]
    if tool in OURS:
        late = ["--no-preconnect"] if tool == "curlmulti_dl-late" else []
        # large: up to 8 parts per file, 2 MiB at least; the host's 30 slots
        # are shared among the files and the tail is split where it pays.
        parts = {"small": ["-n", "1"], "large": ["-n", "8", "--min-part-size", "2M"]}
        return [PYTHON, "-m", "curlmulti_dl", "-q", *parts.get(job, ["-n", "8"]),
                "--max-host-connections", "30", *late, "-d", str(out), *urls]  # fmt: skip
    if tool == "axel":
        return ["axel", "-q", "-n", "8", "-o", str(out / Path(names[0]).name), urls[0]]
    if tool == "lftp":
        if job == "ftp256":
            script = f"set cmd:fail-exit yes; pget -n 8 -O {out} {names[0]}; quit"
        elif job == "small":
            script = f"set cmd:fail-exit yes; mget -P 30 -O {out} {folder}/*; quit"
        else:
            script = f"set cmd:fail-exit yes; mirror -P 10 --use-pget-n=3 {folder} {out}; quit"
        return ["lftp", "-u", "anonymous,x", "-e", script, f"ftp://{host}"]
    if tool == "aria2c":
        listing = out.parent / f"{out.name}.list"
        listing.write_text("\n".join(urls) + "\n")
        jobs = "30" if job == "small" else "16"
        return ["aria2c", "-q", "-j", jobs, "-x", "1", "--allow-overwrite=true",
                "--auto-file-renaming=false", "-d", str(out), "-i", str(listing)]  # fmt: skip
    if tool == "parfive":
        return [PEERS_PYTHON, "-c", PARFIVE, str(out), *urls]
    raise ValueError(tool)


def check(out: Path, names: list[str]) -> None:
    base = WORK / "far" / "data"
    for name in names:
        got = out / Path(name).name
        want = hashlib.sha256((base / name).read_bytes()).hexdigest()
        if not got.exists() or hashlib.sha256(got.read_bytes()).hexdigest() != want:
            raise RuntimeError(f"{got} is missing or differs from {name}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", default="small,large,ftp256,http64")
    parser.add_argument("--tools", default="curlmulti_dl,lftp,aria2c,parfive")
    args = parser.parse_args()
    jobs = make_data()
    # As installed from a wheel (pip compiles it): the editable install of
    # `make venv` has no bytecode, and this machine sets
    # PYTHONDONTWRITEBYTECODE, so every start would compile from source.
    subprocess.run([PYTHON, "-m", "compileall", "-q", str(ROOT / "src")], check=True)
    tools = [t for t in args.tools.split(",") if t != "parfive" or os.path.exists(PEERS_PYTHON)]
    ftp, base, stats, on_21 = far_ftp(try_port_21=True)
    if not on_21:
        tools = [t for t in tools if t != "parfive"]
    httpd, (http_port,) = start("httpd.py", "--root", str(WORK / "far" / "data"))
    http_far = ["--target", f"127.0.0.1:{http_port}", "--delay", str(DELAY), "--rate", str(4 * MiB)]
    http_proxy, (hport, _) = start("farproxy.py", *http_far)
    http_base = f"http://127.0.0.1:{hport}"
    lines = [f"far FTP: {2 * DELAY * 1000:.0f} ms RTT, {RATE // MiB} MiB/s per connection, "
             f"at most {CAP} sessions; medians of {args.runs} alternating runs", ""]  # fmt: skip
    report = Report("far", "s")
    try:
        for job in args.only.split(","):
            names = jobs[job]
            job_tools = TOOLS_FOR.get(job, tools)
            job_tools = [t for t in job_tools if t in tools or t in ("axel", "curlmulti_dl-late")]
            if job not in ("small", "large"):
                job_tools = [t for t in job_tools if t != "curlmulti_dl-glob"]
            job_base = http_base if job == "http64" else base
            times: dict[str, list[float]] = {t: [] for t in job_tools}
            logins: dict[str, list[int]] = {t: [] for t in job_tools}
            for index in range(args.runs):
                shift = index % len(job_tools)
                for tool in job_tools[shift:] + job_tools[:shift]:
                    out = WORK / "far" / f"out-{tool}"
                    shutil.rmtree(out, ignore_errors=True)
                    out.mkdir(parents=True)
                    before = proxy_logins(stats)
                    started = time.perf_counter()
                    done = subprocess.run(
                        commands(tool, job, job_base, names, out), capture_output=True, timeout=600
                    )
                    wall = time.perf_counter() - started
                    if done.returncode != 0:
                        raise RuntimeError(f"{tool} failed: {done.stderr[-800:]!r}")
                    check(out, names)
                    times[tool].append(wall)
                    report.add(f"{job} ({len(names)} files)", tool, wall)
                    logins[tool].append(proxy_logins(stats) - before)
            best_peer = min(median(times[t]) for t in job_tools if t not in OURS)
            lines.append(f"{job} ({len(names)} files): tool, median s, logins, ratio to best peer")
            for tool in job_tools:
                m = median(times[tool])
                lines.append(
                    f"  {tool}: {m:.2f} s, {int(median(logins[tool]))} logins, "
                    f"{m / best_peer:.2f}  (runs: {', '.join(f'{t:.2f}' for t in times[tool])})"
                )
    finally:
        for process in (*ftp, http_proxy, httpd):
            process.kill()
    print("\n".join(lines))
    for line in lines:
        if line.strip():
            report.note(line.strip())
    report.write()


if __name__ == "__main__":
    sys.exit(main())
