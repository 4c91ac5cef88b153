"""Run the benchmarks by scenario.

    .venv/bin/python -m benchmarks                 # the list of scenarios
    .venv/bin/python -m benchmarks SCENARIO [...]  # the full runs of these
    .venv/bin/python -m benchmarks --quick all     # every scenario, one run per tool

Each scenario is one of the scripts here with its arguments (full, and
quick: one run per tool, files of at most 64 MiB). Data and servers live in
a temporary directory (BENCH_DIR, default: a new one) and the servers stop
with the scripts. Scenarios ported to ``report.Report`` write
``results/DATE-SCENARIO.{md,json,png}``; the others print their tables,
which are kept as ``results/DATE-SCENARIO.md``.
"""

from __future__ import annotations

import argparse
import datetime
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PYTHON = str(ROOT / ".venv" / "bin" / "python")


@dataclass(frozen=True)
class Scenario:
    script: str
    full: tuple[str, ...]
    quick: tuple[str, ...]
    reports: bool  # writes its own .md/.json/.png through report.Report
    what: str


SCENARIOS = {
    "throttle": Scenario("run.py", ("--only", "throttle"), ("--quick", "--only", "throttle"),
                         True, "8 connections at 8 MiB/s each, against every splitting peer"),
    "mixed": Scenario("run.py", ("--only", "mixed"), ("--quick", "--only", "mixed"), True,
                      "every 5th connection 4x slower, the same peers"),
    "unthrottled": Scenario("run.py", ("--only", "unthrottled"),
                            ("--quick", "--only", "unthrottled"), True,
                            "to disk at full speed: MiB/s, CPU-s/GiB, RSS; curl -o and the peers"),
    "memory": Scenario("run.py", ("--only", "memory"), ("--quick", "--only", "memory"), True,
                       "peak RSS at 256 MiB, 1 GiB and 4 GiB, against aria2c, axel, parfive, seed"),
    "batch": Scenario("batch.py", ("--runs", "5", "--only", "many"),
                      ("--quick", "--only", "many"), True,
                      "500 x 1 MiB against curl --parallel, aria2c, wget2, lftp, parfive"),
    "batch-tiny": Scenario("batch.py", ("--runs", "3", "--only", "tiny"),
                           ("--quick", "--only", "tiny"), True,
                           "20,000 x 1 KiB, the same peers: files/s, RSS, descriptors"),
    "batch-memory": Scenario("batch.py", ("--only", "million"), ("--only", "million"), False,
                             "a 1,000,000-line list for 20 s: RSS, files answered"),
    "ftp": Scenario("ftp.py", ("--runs", "5"), ("--quick",), True,
                    "one FTP file, paced and under a 3-session cap, against lftp, aria2c, axel"),
    "s3": Scenario("s3.py", ("--runs", "5"), ("--quick",), True,
                   "an S3 prefix on a local store (moto), against s5cmd and rclone"),
    "far": Scenario("far.py", ("--runs", "5", "--only", "small,large",
                               "--tools", "curlmulti_dl,curlmulti_dl-glob,lftp,parfive"),
                    ("--runs", "1", "--only", "small",
                     "--tools", "curlmulti_dl,curlmulti_dl-glob,lftp,parfive"), True,
                    "the P-Tree job through the far-server emulator, against lftp, parfive"),
    "faults": Scenario("faults.py", (), ("--runs", "1", "--only", "cuts"), True,
                       "random cuts and kill -9 + resume"),
    "responsiveness": Scenario("responsiveness.py", (), ("--runs", "1", "--size-gib", "0.0625"),
                               True,
                               "event-loop lateness by loop budget during a download"),
    "rate-limit": Scenario("rate_limit.py", ("--runs", "5"), ("--quick",), True,
                           "a shared --limit-rate as the server sees it, against aria2c"),
    "sftp": Scenario("sftp_split.py", ("--runs", "3", "--far"),
                     ("--quick",), True,
                     "SFTP in 1-8 parts through the far-server emulator, against curl"),
    "dask": Scenario("dask_batch.py", ("--runs", "3"), ("--quick",), True,
                     "2,000 files on 1 and 2 Dask workers under one cap; worker loop lateness"),
    "trio": Scenario("trio_vs_asyncio.py", ("--runs", "7"), ("--quick",), True,
                     "the same download under trio and asyncio"),
}  # fmt: skip

QUICK_SET = ("throttle", "mixed", "unthrottled", "memory", "batch", "batch-tiny", "ftp", "s3",
             "faults", "responsiveness", "rate-limit", "trio", "far", "sftp")  # fmt: skip


def run(name: str, quick: bool, work: Path) -> int:
    scenario = SCENARIOS[name]
    args = scenario.quick if quick else scenario.full
    command = [PYTHON, str(HERE / scenario.script), *args]
    print(f"== {name}: {scenario.what}\n   {' '.join(command[1:])}", flush=True)
    env = {**os.environ, "BENCH_DIR": str(work), **({"BENCH_QUICK": "1"} if quick else {})}
    started = time.perf_counter()
    done = subprocess.run(command, cwd=HERE, env=env, capture_output=not scenario.reports,
                          text=True)  # fmt: skip
    if not scenario.reports:
        sys.stdout.write(done.stdout)
        sys.stderr.write(done.stderr[-2000:])
        if done.returncode == 0:
            quick_mark = "-quick" if quick else ""
            stem = HERE / "results" / f"{datetime.date.today().isoformat()}-{name}{quick_mark}"
            stem.with_suffix(".md").write_text(
                f"# {name}\n\n    {' '.join(command[1:])}\n\n```\n{done.stdout}```\n"
            )
    print(f"   {name}: exit {done.returncode} after {time.perf_counter() - started:.0f} s\n")
    return done.returncode


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("scenarios", nargs="*", help="names, or 'all' (see the list)")
    parser.add_argument("--quick", action="store_true", help="one run per tool, small files")
    args = parser.parse_args()
    if not args.scenarios:
        for name, scenario in SCENARIOS.items():
            print(f"  {name:15} {scenario.what}")
        return 0
    names = list(args.scenarios)
    if names == ["all"]:
        names = list(QUICK_SET if args.quick else SCENARIOS)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        print(f"unknown scenario(s): {', '.join(unknown)}", file=sys.stderr)
        return 2
    given = os.environ.get("BENCH_DIR")
    work = Path(given or tempfile.mkdtemp(prefix="curlmulti-bench-"))
    work.chmod(0o755)  # nginx's workers (nobody) read the data under it
    # Bytecode for the CLI, as a wheel's install has (common.compile_sources).
    subprocess.run([PYTHON, "-m", "compileall", "-q", str(ROOT / "src")], check=True)
    try:
        failed = [n for n in names if run(n, args.quick, work) != 0]
    finally:
        if not given:
            shutil.rmtree(work, ignore_errors=True)  # its data and logs; results stay
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
