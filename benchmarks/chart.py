"""Draw a result file's chart (run by the peers' environment, which has matplotlib).

    benchmarks/.peers-venv/bin/python benchmarks/chart.py RESULT.json OUT.png

One group of bars per scenario group, one bar per tool: the median, with
the min-max range as an error bar; ours in one colour, the peers in grey.
"""

from __future__ import annotations

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def main() -> int:
    source, target = sys.argv[1], sys.argv[2]
    with open(source) as f:
        result = json.load(f)
    rows = result["rows"]
    groups = list(dict.fromkeys(r["group"] for r in rows))
    tools = list(dict.fromkeys(r["tool"] for r in rows))
    width = 0.8 / max(1, len(tools))
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(groups) + 2), 4))
    for t, tool in enumerate(tools):
        xs, ys, low, high = [], [], [], []
        for g, group in enumerate(groups):
            row = next((r for r in rows if r["group"] == group and r["tool"] == tool), None)
            if row is None:
                continue
            xs.append(g + t * width)
            ys.append(row["median"])
            low.append(row["median"] - row["min"])
            high.append(row["max"] - row["median"])
        ours = tool.startswith("curlmulti_dl")
        ax.bar(xs, ys, width, yerr=[low, high], capsize=3, label=tool,
               color=None if ours else str(0.35 + 0.5 * t / max(1, len(tools))))  # fmt: skip
    ax.set_xticks([g + width * (len(tools) - 1) / 2 for g in range(len(groups))], groups)
    better = "lower" if result.get("lower_is_better", True) else "higher"
    ax.set_ylabel(f"{result['unit']} ({better} is better)")
    ax.set_title(f"{result['scenario']} - {result['date'][:10]}")
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(target, dpi=110)
    return 0


if __name__ == "__main__":
    sys.exit(main())
