"""One file over FTP: paced connections, and a server that allows fewer sessions than asked.

    .venv/bin/python benchmarks/ftp.py [--runs 5] [--quick] [--only throttled,capped]

pyftpdlib behind tests/servers/farproxy.py (1 ms round trip, 4 MiB/s per
connection, data connections paced too). throttled: 128 MiB in 8 parts;
capped: the same server allowing 3 sessions per client, every tool asked
for 8. Tools: curlmulti-dl -n 8, lftp pget -n 8, aria2c -x 8 -s 8,
axel -n 8, curl (one connection), parfive (FTP through aioftp, one
connection per file: it splits only HTTP), the seed tool (8 processes).
A tool that fails is recorded as failed, not timed. Runs alternate; every
output's sha256 is checked.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time

from common import (
    PEERS_PYTHON,
    WORK,
    MiB,
    check_output,
    compile_sources,
    make_file,
    timed,
    tool_command,
)
from far import start
from report import Report

RATE = 4 * MiB
TOOLS = ["curlmulti_dl", "lftp", "aria2c", "axel", "curl", "parfive", "seed"]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--quick", action="store_true",
                        help="one run per tool, 32 MiB, the paced case only")  # fmt: skip
    parser.add_argument("--only", default="throttled,capped")
    args = parser.parse_args()
    runs, size = (1, 32 * MiB) if args.quick else (args.runs, 128 * MiB)
    if args.quick:  # the capped case waits on peers that retry (lftp) or time out (seed)
        args.only = "throttled"
    compile_sources()
    source = make_file(f"ftp{size // MiB}.bin", size)
    tools = [t for t in TOOLS if t in ("curlmulti_dl", "seed") or shutil.which(t)
             or (t == "parfive" and os.path.exists(PEERS_PYTHON))]  # fmt: skip
    report = Report("ftp", "s")
    failures: dict[str, list[str]] = {}
    for case in args.only.split(","):
        cap = ["--max-cons-per-ip", "3"] if case == "capped" else []
        ftpd, (ftp_port,) = start("ftpd.py", "--root", str(source.parent), *cap)
        far = ["--target", f"127.0.0.1:{ftp_port}", "--delay", "0.0005", "--rate", str(RATE),
               "--ftp"]  # fmt: skip
        # parfive's FTP client ignores a URL's port: it runs when port 21 is ours.
        try:
            proxy, (port, _) = start("farproxy.py", *far, "--port", "21")
            case_tools = tools
        except (IndexError, ValueError):
            proxy, (port, _) = start("farproxy.py", *far)
            case_tools = [t for t in tools if t != "parfive"]
        url = f"ftp://127.0.0.1:{port}/{source.name}" if port != 21 else (
            f"ftp://127.0.0.1/{source.name}")  # fmt: skip
        group = f"{case}: {size // MiB} MiB" + (", 3 sessions allowed" if cap else "")
        try:
            for index in range(runs):
                shift = index % len(case_tools)
                for tool in case_tools[shift:] + case_tools[:shift]:
                    out = WORK / f"ftp-out-{tool}.bin"
                    try:
                        run = timed(tool_command(tool, url, out, size=size), timeout=300)
                        check_output(out, source)
                    except (RuntimeError, OSError) as error:
                        failures.setdefault(f"{group} / {tool}", []).append(str(error)[-160:])
                        out.unlink(missing_ok=True)
                        for part in out.parent.glob(f"{out.name}*"):
                            part.unlink()
                        continue
                    report.add(group, tool, run.wall)
        finally:
            proxy.kill()
            ftpd.kill()
            time.sleep(0.5)
    report.note(f"pyftpdlib behind the far-server emulator: 1 ms RTT, {RATE // MiB} MiB/s per "
                f"connection (control and data); 8 connections asked of every tool but curl "
                f"and parfive; medians of {runs} alternating runs")  # fmt: skip
    for name, said in failures.items():
        report.note(f"FAILED {name}: {len(said)} of {runs} runs; last: {said[-1]!r}")
    report.write()
    return 0


if __name__ == "__main__":
    sys.exit(main())
