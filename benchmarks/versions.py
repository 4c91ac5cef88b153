"""Two versions of curlmulti_dl side by side (a regression check), with axel.

    git worktree add /tmp/before <commit>
    .venv/bin/python benchmarks/versions.py --variant before=/tmp/before/src \\
        --variant after=src [--runs 5] [--only throttle,mixed,unthrottled,responsiveness]

Each variant is the CLI run with PYTHONPATH at its source tree (same
interpreter and libcurl). Runs alternate, each round starting with another
tool. Reports medians and each variant's ratio to the first one.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

from common import GiB, MiB, Nginx, check_output, make_file, median, timed, tool_command

HERE = Path(__file__).resolve().parent
RESPONSIVENESS_ARGS = ("--runs", "1", "--budgets", "5", "--size-gib", "1")


def command(tool: str, src: str | None, url: str, out: Path) -> list[str]:
    cmd = tool_command("curlmulti_dl" if src else tool, url, out)
    return ["env", f"PYTHONPATH={src}", *cmd] if src else cmd


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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--variant", action="append", required=True, metavar="NAME=SRC")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", default="throttle,mixed,unthrottled,responsiveness")
    parser.add_argument("--peer", default="axel")
    args = parser.parse_args()
    tools: dict[str, str | None] = {}
    for spec in args.variant:
        name, _, src = spec.partition("=")
        tools[name] = str(Path(src).resolve())
    if args.peer:
        tools[args.peer] = None
    first = next(iter(tools))
    only = args.only.split(",")
    lines = [f"Versions side by side, medians of {args.runs} alternating runs", ""]
    with Nginx(port=18090) as nginx:
        for scenario, location, size in (
            ("throttle", "throttle", 256 * MiB),
            ("mixed", "mixed", 256 * MiB),
            ("unthrottled", "fast", 1 * GiB),
        ):
            if scenario not in only:
                continue
            walls, cpus = transfer(nginx, location, size, tools, args.runs)
            lines.append(f"{scenario} ({size >> 20} MiB): tool, median s, MiB/s, CPU-s/GiB, ratio")
            for tool in tools:
                wall = median(walls[tool])
                cpu = median(cpus[tool]) / (size / GiB)
                ratio = wall / median(walls[first])
                lines.append(
                    f"  {tool}: {wall:.2f} s, {size / MiB / wall:.0f} MiB/s, {cpu:.2f}, {ratio:.3f}"
                    f"  (runs: {', '.join(f'{w:.2f}' for w in walls[tool])};"
                    f" CPU-s: {', '.join(f'{c:.2f}' for c in cpus[tool])})"
                )
    if "responsiveness" in only:
        rows = responsiveness(tools, args.runs)
        lines.append("responsiveness (1 GiB, 5 ms budget): MiB/s, p50, p99, max lateness ms")
        for tool, values in rows.items():
            cols = [median([v[i] for v in values]) for i in range(4)]
            lines.append(
                f"  {tool}: {cols[0]:.0f}, {cols[1]:.1f}, {cols[2]:.1f}, {cols[3]:.1f}"
                f"  (runs: {', '.join(f'{v[0]:.0f} MiB/s p99 {v[2]:.1f}' for v in values)})"
            )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
