"""Batches side by side: many files from one host, and what a long list costs.

    .venv/bin/python benchmarks/batch.py [--runs 3] [--only many,tiny,million]

many     500 files of 1 MiB from nginx on loopback, unthrottled, 16 connections:
         curlmulti-dl -i LIST, curl --parallel --parallel-max 16, aria2c -j 16,
         wget2 --max-threads=16, lftp mget -P 16, parfive (max_conn=16,
         max_splits=1, its best for small files), alternating; files per
         second and peak RSS, medians, every sha256 checked.
tiny     the same tools on 20,000 files of 1 KiB: files per second, peak RSS,
         most open descriptors (sampled from /proc at 20 Hz).
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


def run_watched(cmd: list[str], stdin: bytes | None = None) -> tuple[float, int, int]:
    """Wall seconds, peak RSS (KiB) and most open descriptors of ``cmd``.

    The RSS is GNU time's of the tool itself: a child forked from this
    process would report this process's pages as its own when they are more.
    """
    os.sync()
    with tempfile.TemporaryFile() as errors, tempfile.TemporaryFile() as given:
        given.write(stdin or b"")
        given.seek(0)
        started = time.perf_counter()
        timed = ["/usr/bin/time", "-f", "MAXRSS %M", *cmd]
        process = subprocess.Popen(timed, stdin=given, stdout=subprocess.DEVNULL, stderr=errors)
        most = [0]
        running = threading.Event()
        running.set()

        def sample() -> None:
            tool = ""
            while running.is_set():
                try:
                    tool = tool or Path(f"/proc/{process.pid}/task/{process.pid}/children"
                                        ).read_text().split()[0]  # fmt: skip
                    most[0] = max(most[0], len(os.listdir(f"/proc/{tool}/fd")))
                except (OSError, IndexError):
                    if process.poll() is not None:
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
        errors.seek(0)
        reported = errors.read().decode(errors="replace").splitlines()
    rss = next((int(line.split()[1]) for line in reported if line.startswith("MAXRSS ")), 0)
    return wall, rss or usage.ru_maxrss, most[0]


def check(out: Path, sources: list[Path]) -> None:
    for source in sources:
        got = out / source.name
        if not got.exists() or sha256(got) != sha256(source):
            raise SystemExit(f"{got} differs from {source}")


def ours(listing: Path, out: Path) -> list[str]:
    """curlmulti-dl fetching every URL of ``listing`` into ``out`` on 16 connections."""
    return [PYTHON, "-m", "curlmulti_dl", "-q", "-i", str(listing), "-d", str(out),
            "--max-host-connections", "16"]  # fmt: skip


def batch_commands(listing: Path, urls: list[str], out: Path) -> dict[str, list[str]]:
    """Each tool fetching every URL of ``listing`` into ``out`` on 16 connections."""
    commands = {
        "curlmulti_dl": ours(listing, out),
        # One host: --parallel-max is its per-host cap too (--parallel-max-host
        # needs curl 8.16; Debian 12 has 7.88).
        "curl --parallel": ["curl", "-s", "--parallel", "--parallel-max", "16",
                            "--output-dir", str(out), "--remote-name-all", "-K", "-"],
        "aria2c": ["aria2c", "-q", "-j", "16", "-x", "1", "--allow-overwrite=true",
                   "--auto-file-renaming=false", "--file-allocation=none", "-d", str(out),
                   "-i", str(listing)],
        "wget2": ["wget2", "-q", "--no-robots", "--max-threads=16", "-P", str(out),
                  "-i", str(listing)],
        "lftp": ["lftp", "-f", str(lftp_script(listing, urls, out))],
    }  # fmt: skip
    if os.path.exists(PEERS_PYTHON):
        commands["parfive"] = [PEERS_PYTHON, "-c", PARFIVE, str(listing), str(out)]
    return {t: c for t, c in commands.items() if c[0] != t.split()[0] or shutil.which(c[0])}


def lftp_script(listing: Path, urls: list[str], out: Path) -> Path:
    """lftp's mget takes its URLs as words: one script line, past argv's limits."""
    script = listing.with_suffix(".lftp")
    script.write_text(f"set cmd:fail-exit yes; set xfer:clobber on; "
                      f"mget -P 16 -O {out} {' '.join(urls)}; quit\n")  # fmt: skip
    return script


def curl_config(urls: list[str]) -> bytes:
    """curl reads its URLs from stdin (-K -): 20,000 of them pass no argv limit."""
    return "".join(f'url = "{url}"\n' for url in urls).encode()


def job(nginx: Nginx, folder: str, count: int, size: int) -> tuple[list[Path], list[str], Path]:
    """``count`` files of ``size`` served unthrottled: the sources, their URLs, the URL list."""
    sources = make_files(folder, count, size)
    urls = [nginx.url("fast", f"{folder}/{s.name}") for s in sources]
    listing = WORK / f"{folder}.txt"
    listing.write_text("\n".join(urls) + "\n")
    return sources, urls, listing


def batch(nginx: Nginx, runs: int, folder: str, count: int, size: int) -> list[str]:
    """Every tool on the same list, alternating: files/s, peak RSS, descriptors."""
    sources, urls, listing = job(nginx, folder, count, size)
    out = WORK / f"out-{folder}"
    commands = batch_commands(listing, urls, out)
    stdin = {"curl --parallel": curl_config(urls)}
    samples: dict[str, list[tuple[float, int, int]]] = {tool: [] for tool in commands}
    for index in range(runs):
        order = list(commands)
        order = order[index % len(order) :] + order[: index % len(order)]
        for tool in order:
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir(parents=True)
            samples[tool].append(run_watched(commands[tool], stdin.get(tool)))
            check(out, sources)
    label = f"{count} x {size // 1024} KiB" if size < MiB else f"{count} x {size // MiB} MiB"
    scenario = "batch-many" if folder == "many" else f"batch-{folder}"
    speed = Report(scenario, "files/s", lower_is_better=False)
    memory = Report(f"{scenario}-rss", "MiB peak RSS")
    for tool, values in samples.items():
        for wall, rss, _ in values:
            speed.add(label, tool, count / wall)
            memory.add(label, tool, rss / 1024)
    for report in (speed, memory):
        report.note("16 connections to one host; parfive max_conn=16, max_splits=1 (its best "
                    "for small files); aria2c -j 16 -x 1; wget2 --max-threads=16; "
                    "lftp mget -P 16")  # fmt: skip
        report.write()
    lines = [f"{folder}: {label}, 16 connections, medians of {runs}", "",
             "| tool | median s | files/s | peak RSS MiB | most fds | runs (s) |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for tool, values in samples.items():
        wall = median([v[0] for v in values])
        rss = median([v[1] for v in values]) / 1024
        fds = max(v[2] for v in values)
        runs_text = ", ".join(f"{v[0]:.2f}" for v in values)
        lines.append(f"| {tool} | {wall:.2f} | {count / wall:.0f} | {rss:.0f} | {fds} | "
                     f"{runs_text} |")  # fmt: skip
    return lines


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
    parser.add_argument("--quick", action="store_true", help="100 and 2,000 files, one run")
    args = parser.parse_args()
    only = args.only.split(",")
    lines: list[str] = []
    with Nginx(port=18091) as nginx:
        runs = 1 if args.quick else args.runs
        if "many" in only:
            count = 100 if args.quick else 500
            lines += [*batch(nginx, runs, "many", count, MiB), ""]
        if "tiny" in only:
            lines += [*batch(nginx, runs, "tiny", 2_000 if args.quick else 20_000, 1024), ""]
        if "million" in only:
            lines += million(nginx)
    print("\n".join(lines))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
