"""Side-by-side benchmarks against curl, aria2c and axel on loopback (nginx).

    .venv/bin/python benchmarks/run.py [--runs 5] [--only throttle,mixed,unthrottled,memory]

Runs alternate between tools inside each scenario; medians are reported with
ratios to the ideal or to the peer of the same session. Results go to stdout
and to benchmarks/results/DATE-SCENARIO.{md,json,png} (report.py).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import time
from pathlib import Path

from common import (
    PEERS_PYTHON,
    WORK,
    GiB,
    MiB,
    Nginx,
    check_output,
    compile_sources,
    make_file,
    median,
    timed,
    tool_command,
)
from report import Report

RESULTS = Path(__file__).resolve().parent / "results"


# Every peer that splits one file, at 8 connections (README: their settings).
SPLITTING_PEERS = ["axel", "aria2c", "lftp", "wget2", "parfive", "pypdl", "seed"]
IN_PYTHON = ("curlmulti_dl", "seed")
QUICK = bool(os.environ.get("BENCH_QUICK"))
IN_PEERS_VENV = ("parfive", "pypdl")


def available(tools: list[str]) -> list[str]:
    peers_venv = Path(PEERS_PYTHON).exists()
    usable = [t in IN_PYTHON or (t in IN_PEERS_VENV and peers_venv) or shutil.which(t)
              for t in tools]  # fmt: skip
    return [t for t, ok in zip(tools, usable, strict=True) if ok]


def rotated(tools: list[str], index: int) -> list[str]:
    """Each run starts with another tool, so none always follows the same one."""
    shift = index % len(tools)
    return tools[shift:] + tools[:shift]


def ideal_one_range(nginx: Nginx, location: str, name: str, size: int, parts: int) -> float:
    """The time one range takes alone (nginx's limit_rate runs ahead ~1 s, so measure)."""
    out = WORK / "ideal.bin"
    length = size // parts
    times = []
    for _ in range(3):
        run = timed(
            ["curl", "-s", "-r", f"0-{length - 1}", "-o", str(out), nginx.url(location, name)]
        )
        times.append(run.wall)
    out.unlink()
    return median(times)


def throttled(
    nginx: Nginx, location: str, runs: int, lines: list[str], size: int = 256 * MiB
) -> None:
    source = make_file(f"t{size // MiB}.bin", size)
    url = nginx.url(location, source.name)
    if location == "throttle":
        ideal = ideal_one_range(nginx, location, source.name, size, 8)
        title = (f"{size // MiB} MiB, 8 MiB/s per connection, 8 parts "
                 f"(ideal, one range alone: {ideal:.2f} s)")  # fmt: skip
    else:
        # 7 connections at 8 MiB/s and one at 2 MiB/s carry 58 MiB/s at best.
        ideal = ideal_one_range(nginx, "throttle", source.name, size, 8) * (64 / 58)
        title = (
            f"{size // MiB} MiB, every 5th connection 2 MiB/s (others 8), 8 parts "
            f"(ideal ~{ideal:.2f} s: 58 MiB/s, with nginx's run-ahead)"
        )
    # Quick runs leave out wget2: one connection whatever it is told (README).
    peers = [p for p in SPLITTING_PEERS if not (QUICK and p == "wget2")]
    tools = available(["curlmulti_dl", *peers])
    walls: dict[str, list[float]] = {t: [] for t in tools}
    for index in range(runs):
        for tool in rotated(tools, index):
            out = WORK / f"out-{tool}.bin"
            walls[tool].append(timed(tool_command(tool, url, out, size=size)).wall)
            check_output(out, source)
    report = Report(location, "s / ideal")
    for tool, values in walls.items():
        for wall in values:
            report.add(f"{size // MiB} MiB, 8 parts", tool, wall / ideal)
    report.note(title)
    report.write()
    lines += [f"### {title}", "", "| tool | median s | vs ideal | runs |", "|---|---|---|---|"]
    for tool in tools:
        m = median(walls[tool])
        runs_text = ", ".join(f"{w:.2f}" for w in walls[tool])
        lines.append(f"| {tool} | {m:.2f} | {100 * (m / ideal - 1):+.1f}% | {runs_text} |")
    lines.append("")


def unthrottled(nginx: Nginx, runs: int, lines: list[str], size: int = 2 * GiB) -> None:
    source = make_file(f"u{size // MiB}.bin", size)
    url = nginx.url("fast", source.name)
    tools = available(["curlmulti_dl", "curl", *SPLITTING_PEERS])
    results: dict[str, list[tuple[float, float]]] = {t: [] for t in tools}
    rss_report = Report("unthrottled-rss", "MiB peak RSS")
    cpu_report = Report("unthrottled-cpu", "CPU-s/GiB")
    for index in range(runs):
        for tool in rotated(tools, index):
            out = WORK / f"out-{tool}.bin"
            run = timed(tool_command(tool, url, out, size=size))
            results[tool].append((size / MiB / run.wall, run.cpu / (size / GiB)))
            rss_report.add(f"{size // MiB} MiB", tool, run.max_rss_kib / 1024)
            # What a run's time went to, to explain the swings between runs.
            cpu_report.note(f"{tool} run {index + 1}: {size / MiB / run.wall:.0f} MiB/s, user "
                            f"{run.user:.2f} s, system {run.system:.2f} s, steal "
                            f"{run.steal:.2f} s")  # fmt: skip
            check_output(out, source)
    speed_report = Report("unthrottled", "MiB/s", lower_is_better=False)
    for tool, values in results.items():
        for speed_value, cpu_value in values:
            speed_report.add(f"{size // MiB} MiB", tool, speed_value)
            cpu_report.add(f"{size // MiB} MiB", tool, cpu_value)
    for report in (speed_report, cpu_report, rss_report):
        report.note(f"{size // MiB} MiB from nginx on loopback to disk, 8 parts")
        report.write()
    lines += [
        f"### {size // MiB} MiB unthrottled to disk, 8 parts",
        "",
        "| tool | median MiB/s | vs curl | median CPU-s/GiB | runs (MiB/s) |",
        "|---|---|---|---|---|",
    ]
    curl_speed = median([s for s, _ in results["curl"]]) if "curl" in results else 0.0
    for tool in tools:
        speed = median([s for s, _ in results[tool]])
        cpu = median([c for _, c in results[tool]])
        ratio = f"{speed / curl_speed:.2f}x" if curl_speed else "-"
        runs_text = ", ".join(f"{s:.0f}" for s, _ in results[tool])
        lines.append(f"| {tool} | {speed:.0f} | {ratio} | {cpu:.2f} | {runs_text} |")
    lines.append("")


def memory(nginx: Nginx, runs: int, lines: list[str], quick: bool = False) -> None:
    lines += ["### Peak RSS by file size (8 parts, unthrottled)", ""]
    lines += ["| size | tool | median peak RSS MiB | runs |", "|---|---|---|---|"]
    report = Report("memory", "MiB peak RSS")
    sizes = (64 * MiB,) if quick else (256 * MiB, GiB, 4 * GiB)
    tools = available(["curlmulti_dl", "aria2c", "axel", "parfive", "seed"])
    for size in sizes:
        source = make_file(f"m{size // MiB}.bin", size)
        rss: dict[str, list[float]] = {t: [] for t in tools}
        for index in range(1 if quick else max(3, runs // 2)):
            for tool in rotated(tools, index):
                out = WORK / f"out-mem-{tool}.bin"
                command = tool_command(tool, nginx.url("fast", source.name), out, size=size)
                rss[tool].append(timed(command).max_rss_kib / 1024)
                check_output(out, source)
        for tool, values in rss.items():
            for value in values:
                report.add(f"{size // MiB} MiB file", tool, value)
            runs_text = ", ".join(f"{r:.1f}" for r in values)
            lines.append(f"| {size // MiB} MiB | {tool} | {median(values):.1f} | {runs_text} |")
        if size > GiB:
            source.unlink()
    lines.append("")
    report.note("8 parts, unthrottled from nginx on loopback; memory should not grow with size")
    report.note("seed: the largest of its processes (GNU time reports one process, not the sum)")
    report.write()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", default="throttle,mixed,unthrottled,memory")
    parser.add_argument("--quick", action="store_true", help="one run per tool, 64 MiB files")
    args = parser.parse_args()
    compile_sources()
    if args.quick:
        args.runs = 1
    size = 64 * MiB if args.quick else None
    chosen = args.only.split(",")
    lines = [
        f"## Run of {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        "",
        f"{platform.node()}: {platform.machine()}, {__import__('os').cpu_count()} cores, "
        f"Python {platform.python_version()}; medians of {args.runs} runs, tools alternating.",
        "",
    ]
    with Nginx() as nginx:
        if "throttle" in chosen:
            throttled(nginx, "throttle", args.runs, lines, size or 256 * MiB)
        if "mixed" in chosen:
            throttled(nginx, "mixed", args.runs, lines, size or 256 * MiB)
        if "unthrottled" in chosen:
            unthrottled(nginx, args.runs, lines, size or 2 * GiB)
        if "memory" in chosen:
            memory(nginx, args.runs, lines, args.quick)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
