"""One scenario's results, written as benchmarks/results/DATE-SCENARIO.{md,json,png}.

A script adds its samples (``report.add(group, tool, value)``, one value per
run) and notes; ``write()`` keeps the table (median, min, max, ratio to each
peer of the same group), the raw samples and the machine as JSON, and has
the chart drawn by ``chart.py`` in the peers' environment (matplotlib lives
there, not in the project's).
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
PEERS_PYTHON = HERE / ".peers-venv" / "bin" / "python"
OURS_PREFIX = "curlmulti_dl"


@dataclass
class Report:
    scenario: str
    unit: str  # of the values: "s", "MiB/s", "ratio", ...
    lower_is_better: bool = True
    command: str = field(
        default_factory=lambda: " ".join([os.path.relpath(sys.argv[0]), *sys.argv[1:]])
    )
    samples: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, group: str, tool: str, value: float) -> None:
        self.samples.setdefault(group, {}).setdefault(tool, []).append(float(value))

    def note(self, text: str) -> None:
        self.notes.append(text)

    def rows(self) -> list[dict[str, object]]:
        found = []
        for group, tools in self.samples.items():
            medians = {tool: statistics.median(values) for tool, values in tools.items()}
            peers = {t: m for t, m in medians.items() if not t.startswith(OURS_PREFIX)}
            for tool, values in tools.items():
                m = medians[tool]
                ratios = {peer: m / pm for peer, pm in peers.items() if pm and peer != tool}
                found.append({"group": group, "tool": tool, "median": m,
                              "min": min(values), "max": max(values), "runs": len(values),
                              "ratio_to": ratios})  # fmt: skip
        return found

    def table(self) -> str:
        lines = [f"| group | tool | median {self.unit} | min | max | runs | ratio to peers |",
                 "|---|---|---|---|---|---|---|"]  # fmt: skip
        for row in self.rows():
            peers: dict[str, float] = row["ratio_to"]  # type: ignore[assignment]
            ratios = ", ".join(f"{p} {r:.2f}" for p, r in peers.items())
            lines.append(f"| {row['group']} | {row['tool']} | {row['median']:.3g} | "
                         f"{row['min']:.3g} | {row['max']:.3g} | {row['runs']} | "
                         f"{ratios} |")  # fmt: skip
        return "\n".join(lines)

    def write(self, directory: Path = RESULTS) -> Path:
        """The .md and .json (and .png when the peers' environment draws it)."""
        directory.mkdir(parents=True, exist_ok=True)
        # A quick run (one run per tool) never takes a full run's name.
        quick = "-quick" if os.environ.get("BENCH_QUICK") else ""
        stem = directory / f"{datetime.date.today().isoformat()}-{self.scenario}{quick}"
        machine = f"{platform.node()} ({platform.platform()}, {os.cpu_count()} CPUs)"
        body = {"scenario": self.scenario, "unit": self.unit, "command": self.command,
                "lower_is_better": self.lower_is_better, "machine": machine,
                "date": datetime.datetime.now().isoformat(timespec="seconds"),
                "rows": self.rows(), "samples": self.samples, "notes": self.notes}  # fmt: skip
        stem.with_suffix(".json").write_text(json.dumps(body, indent=1) + "\n")
        text = [f"# {self.scenario} ({body['date']})", "", f"    {self.command}", "",
                f"Machine: {machine}. Lower is better: {self.lower_is_better}.", "",
                self.table(), ""] + [f"- {n}" for n in self.notes]  # fmt: skip
        chart = stem.with_suffix(".png")
        if PEERS_PYTHON.exists():
            drawn = subprocess.run([str(PEERS_PYTHON), str(HERE / "chart.py"),
                                    str(stem.with_suffix(".json")), str(chart)],
                                   capture_output=True, text=True)  # fmt: skip
            if drawn.returncode == 0:
                text[1:1] = ["", f"![{self.scenario}]({chart.name})"]
            else:
                self.notes.append(f"no chart: {drawn.stderr.strip()[-200:]}")
        stem.with_suffix(".md").write_text("\n".join(text) + "\n")
        print(self.table())
        for note in self.notes:
            print(f"- {note}")
        print(f"written: {stem}.md / .json" + (" / .png" if chart.exists() else ""))
        return stem
