"""Two versions of curlmulti_dl side by side (a regression check), with axel.

    git worktree add /tmp/before <commit>
    .venv/bin/python benchmarks/versions.py --variant before=/tmp/before/src \\
        --variant after=src [--runs 5] \\
        [--only throttle,mixed,unthrottled,responsiveness,batch,far]

Each variant is the CLI run with PYTHONPATH at its source tree (same
interpreter and libcurl; each tree compiled to bytecode first). Runs
alternate, each round starting with another tool. Reports medians and each
variant's ratio of times to the first one. By default all six scenarios:

throttle        256 MiB, 8 connections at 8 MiB/s each (nginx), with axel
mixed           the same, every 5th connection 4x slower, with axel
unthrottled     1 GiB to disk at full speed, with axel
responsiveness  responsiveness.py's 5 ms budget on 1 GiB, in process
batch           batch.py's "many": 500 x 1 MiB from the same nginx, the CLI
                with the URL list (-i) on 16 connections; files/s
far             far.py's large (P-Tree) job: 16 x 24 MiB over FTP (pyftpdlib) behind the
                far-server emulator (100 ms RTT, 2 MiB/s a connection, 30
                sessions), far.py's command; wall time and logins

The peer (axel) runs in the three single-file scenarios only. Every output's
sha256 is checked.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import batch
import far
from common import (
    PYTHON,
    WORK,
    GiB,
    MiB,
    Nginx,
    Run,
    check_output,
    make_file,
    median,
    timed,
    tool_command,
)

HERE = Path(__file__).resolve().parent
RESPONSIVENESS_ARGS = ("--runs", "1", "--budgets", "5", "--size-gib", "1")
SCENARIOS = "throttle,mixed,unthrottled,responsiveness,batch,far"
BATCH_FILES = 500


def on_tree(src: str, cmd: list[str]) -> list[str]:
    """``cmd`` (the CLI) importing curlmulti_dl from the source tree ``src``."""
    return ["env", f"PYTHONPATH={src}", *cmd]


def command(tool: str, src: str | None, url: str, out: Path) -> list[str]:
    cmd = tool_command("curlmulti_dl" if src else tool, url, out)
    return on_tree(src, cmd) if src else cmd


def rotated(items: list[str], index: int) -> list[str]:
    shift = index % len(items)
    return items[shift:] + items[:shift]


def transfer(nginx: Nginx, location: str, size: int, tools: dict[str, str | None], runs: int):
    source = make_file(f"v{size >> 20}.bin", size)
    url = nginx.url(location, source.name)
    walls: dict[str, list[float]] = {t: [] for t in tools}
    cpus: dict[str, list[float]] = {t: [] for t in tools}
    for index in range(runs):
        for tool in rotated(list(tools), index):
            out = source.parent.parent / f"out-{tool}.bin"
            run = timed(command(tool, tools[tool], url, out))
            check_output(out, source)
            walls[tool].append(run.wall)
            cpus[tool].append(run.cpu)
    return walls, cpus


def responsiveness(tools: dict[str, str | None], runs: int) -> dict[str, list[tuple[float, ...]]]:
    """The default 5 ms budget, 1 GiB, one run per variant per round."""
    rows: dict[str, list[tuple[float, ...]]] = {t: [] for t, src in tools.items() if src}
    row = re.compile(r"^\| 5 ms \| (\d+) \| [^|]* \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \|")
    for index in range(runs):
        for tool in rotated(list(rows), index):
            env = {**os.environ, "PYTHONPATH": str(tools[tool])}
            done = subprocess.run(
                [sys.executable, str(HERE / "responsiveness.py"), *RESPONSIVENESS_ARGS],
                env=env,
                capture_output=True,
                text=True,
                check=True,
                cwd=HERE,
            )
            match = next(m for line in done.stdout.splitlines() if (m := row.match(line)))
            rows[tool].append(tuple(float(g) for g in match.groups()))
    return rows


def many(nginx: Nginx, variants: dict[str, str], runs: int) -> dict[str, list[Run]]:
    """batch.py's "many" (500 x 1 MiB, 16 connections) per variant, alternating."""
    sources, _, listing = batch.job(nginx, "many", BATCH_FILES, MiB)
    samples: dict[str, list[Run]] = {v: [] for v in variants}
    for index in range(runs):
        for name in rotated(list(variants), index):
            out = WORK / f"out-many-{name}"
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir(parents=True)
            samples[name].append(timed(on_tree(variants[name], batch.ours(listing, out))))
            batch.check(out, sources)
            shutil.rmtree(out)
    return samples


def far_large(variants: dict[str, str], runs: int) -> dict[str, list[tuple[Run, int]]]:
    """far.py's large job per variant, alternating: each run and the logins it took."""
    names = far.make_data()["large"]
    processes, base, stats, _ = far.far_ftp(try_port_21=False)
    samples: dict[str, list[tuple[Run, int]]] = {v: [] for v in variants}
    try:
        for index in range(runs):
            for name in rotated(list(variants), index):
                out = WORK / "far" / f"out-{name}"
                shutil.rmtree(out, ignore_errors=True)
                out.mkdir(parents=True)
                before = far.proxy_logins(stats)
                cmd = far.commands("curlmulti_dl", "large", base, names, out)
                run = timed(on_tree(variants[name], cmd))
                far.check(out, names)
                samples[name].append((run, far.proxy_logins(stats) - before))
                shutil.rmtree(out)
    finally:
        for process in processes:
            process.kill()
    return samples


def show(line: str) -> None:
    """One line of the report, at once: a later scenario's failure keeps it."""
    print(line, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--variant", action="append", required=True, metavar="NAME=SRC")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", default=SCENARIOS, help=f"default {SCENARIOS}")
    parser.add_argument("--peer", default="axel")
    args = parser.parse_args()
    tools: dict[str, str | None] = {}
    for spec in args.variant:
        name, _, src = spec.partition("=")
        tools[name] = str(Path(src).resolve())
    variants = {name: src for name, src in tools.items() if src}
    # Bytecode, as a wheel's install has (see common.compile_sources): this
    # machine sets PYTHONDONTWRITEBYTECODE, so each start would compile.
    for src in variants.values():
        subprocess.run([PYTHON, "-m", "compileall", "-q", src], check=False)
    if args.peer:
        tools[args.peer] = None
    first = next(iter(tools))
    only = args.only.split(",")
    unknown = set(only) - set(SCENARIOS.split(","))
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(sorted(unknown))}; known: {SCENARIOS}")
    show(f"Versions side by side, medians of {args.runs} alternating runs\n")
    with Nginx(port=18090) as nginx:
        for scenario, location, size in (
            ("throttle", "throttle", 256 * MiB),
            ("mixed", "mixed", 256 * MiB),
            ("unthrottled", "fast", 1 * GiB),
        ):
            if scenario not in only:
                continue
            walls, cpus = transfer(nginx, location, size, tools, args.runs)
            show(f"{scenario} ({size >> 20} MiB): tool, median s, MiB/s, CPU-s/GiB, ratio")
            for tool in tools:
                wall = median(walls[tool])
                cpu = median(cpus[tool]) / (size / GiB)
                ratio = wall / median(walls[first])
                show(
                    f"  {tool}: {wall:.2f} s, {size / MiB / wall:.0f} MiB/s, {cpu:.2f}, {ratio:.3f}"
                    f"  (runs: {', '.join(f'{w:.2f}' for w in walls[tool])};"
                    f" CPU-s: {', '.join(f'{c:.2f}' for c in cpus[tool])})"
                )
        if "batch" in only:
            batch_runs = many(nginx, variants, args.runs)
            show(f"batch ({BATCH_FILES} x 1 MiB, 16 connections): variant, median s, "
                         "files/s, CPU-s, ratio")  # fmt: skip
            for name, found in batch_runs.items():
                wall = median([r.wall for r in found])
                show(
                    f"  {name}: {wall:.2f} s, {BATCH_FILES / wall:.0f} files/s, "
                    f"{median([r.cpu for r in found]):.2f}, "
                    f"{wall / median([r.wall for r in batch_runs[first]]):.3f}"
                    f"  (runs: {', '.join(f'{r.wall:.2f}' for r in found)})"
                )
    if "far" in only:
        far_runs = far_large(variants, args.runs)
        show(f"far (16 x 24 MiB over FTP, {2 * far.DELAY * 1000:.0f} ms RTT, "
                     f"{far.RATE // MiB} MiB/s a connection, {far.CAP} sessions): variant, "
                     "median s, logins, CPU-s, ratio")  # fmt: skip
        first_wall = median([r.wall for r, _ in far_runs[first]])
        for name, pairs in far_runs.items():
            wall = median([r.wall for r, _ in pairs])
            show(
                f"  {name}: {wall:.2f} s, {median([n for _, n in pairs]):.0f} logins, "
                f"{median([r.cpu for r, _ in pairs]):.2f}, {wall / first_wall:.3f}"
                f"  (runs: {', '.join(f'{r.wall:.2f}' for r, _ in pairs)})"
            )
    if "responsiveness" in only:
        rows = responsiveness(tools, args.runs)
        show("responsiveness (1 GiB, 5 ms budget): MiB/s, p50, p99, max lateness ms")
        for tool, values in rows.items():
            cols = [median([v[i] for v in values]) for i in range(4)]
            show(
                f"  {tool}: {cols[0]:.0f}, {cols[1]:.1f}, {cols[2]:.1f}, {cols[3]:.1f}"
                f"  (runs: {', '.join(f'{v[0]:.0f} MiB/s p99 {v[2]:.1f}' for v in values)})"
            )


if __name__ == "__main__":
    main()
