"""What a split SFTP range costs, and what splitting buys, beside curl.

    .venv/bin/python benchmarks/sftp_split.py [--runs 3] [--size-mib 128] [--far]

OpenSSH's sshd on 127.0.0.1 (tests/servers/sshd_run.py, a temporary host
key, key login); with ``--far``, behind the far-server emulator
(tests/servers/farproxy.py: 100 ms round trip, 2 MiB/s per connection).
First the price of a session: the time until libcurl could start the
transfer (PRETRANSFER_TIME: TCP, key exchange, login, SFTP start) for one
session alone and for eight at once. Then one file fetched by curl (one
stream) and by curlmulti_dl with 1, 2, 4 and 8 parts, in alternating order;
every output's sha256 is checked. Medians with min and max.
"""

from __future__ import annotations

import argparse
import getpass
import hashlib
import io
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pycurl
from common import WORK, MiB, make_file, median
from report import Report

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(ROOT / ".venv/bin/python")


def start_sshd(keys: Path) -> tuple[subprocess.Popen[bytes], int]:
    for name in ("host", "client"):
        if not (keys / name).exists():
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(keys / name)],
                           check=True)  # fmt: skip
    shutil.copy(keys / "client.pub", keys / "authorized_keys")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [PYTHON, str(ROOT / "tests/servers/sshd_run.py"), "--dir", str(keys), "--port", str(port)],
        stdout=subprocess.PIPE,
    )
    assert process.stdout is not None
    if not process.stdout.readline().startswith(b"PORT"):
        raise RuntimeError("sshd did not start")
    kind, key = (keys / "host.pub").read_text().split()[:2]
    (keys / "known_hosts").write_text(f"[127.0.0.1]:{port} {kind} {key}\n")
    ssh = keys / "home" / ".ssh"
    ssh.mkdir(parents=True, exist_ok=True)
    shutil.copy(keys / "known_hosts", ssh / "known_hosts")
    return process, port


def session_setup(url: str, keys: Path, count: int) -> list[float]:
    """PRETRANSFER_TIME of ``count`` sessions started together (100 bytes each)."""
    multi = pycurl.CurlMulti()
    handles: list[Any] = []
    for _ in range(count):
        curl = pycurl.Curl()
        curl.setopt(pycurl.URL, url)
        curl.setopt(pycurl.SSH_PRIVATE_KEYFILE, str(keys / "client"))
        curl.setopt(pycurl.SSH_KNOWNHOSTS, str(keys / "known_hosts"))
        curl.setopt(pycurl.RANGE, "0-99")
        curl.setopt(pycurl.WRITEDATA, io.BytesIO())
        multi.add_handle(curl)
        handles.append(curl)
    while multi.perform()[1]:
        multi.select(0.1)
    times = [c.getinfo(pycurl.PRETRANSFER_TIME) for c in handles]
    for curl in handles:
        multi.remove_handle(curl)
        curl.close()
    return times


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--size-mib", type=int, default=128)
    parser.add_argument("--far", action="store_true")
    parser.add_argument("--quick", action="store_true", help="32 MiB, one run each")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.size_mib = 1, 32
    work = WORK / "sftp"
    keys = work / "keys"
    keys.mkdir(parents=True, exist_ok=True)
    source = make_file(f"sftp-{args.size_mib}.bin", args.size_mib * MiB)
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    sshd, port = start_sshd(keys)
    far = None
    if args.far:
        far = subprocess.Popen(
            [PYTHON, str(ROOT / "tests/servers/farproxy.py"), "--target", f"127.0.0.1:{port}",
             "--delay", "0.05", "--rate", str(2 * MiB)],
            stdout=subprocess.PIPE,
        )  # fmt: skip
        assert far.stdout is not None
        far_port = int(far.stdout.readline().split()[1])
        far.stdout.readline()  # its statistics port
        kind, key = (keys / "host.pub").read_text().split()[:2]
        for known in (keys / "known_hosts", keys / "home/.ssh/known_hosts"):
            known.write_text(f"[127.0.0.1]:{far_port} {kind} {key}\n")
        port = far_port
    url = f"sftp://127.0.0.1:{port}{source.resolve()}"
    env = {**os.environ, "HOME": str(keys / "home")}
    tools = ["curl"] + [f"curlmulti_dl-n{n}" for n in (1, 2, 4, 8)]
    times: dict[str, list[float]] = {t: [] for t in tools}
    lines = []
    try:
        for count in (1, 8):
            setups = [session_setup(url, keys, count) for _ in range(args.runs)]
            flat = [t for run in setups for t in run]
            ms = [t * 1000 for t in flat]
            lines.append(f"SSH session set-up, {count} at once: median {median(ms):.0f} ms "
                         f"({min(ms):.0f}-{max(ms):.0f})")  # fmt: skip
        for run in range(args.runs):
            shift = run % len(tools)
            for tool in tools[shift:] + tools[:shift]:
                out = work / f"out-{tool}"
                shutil.rmtree(out, ignore_errors=True)
                out.mkdir()
                if tool == "curl":
                    command = ["curl", "-s", "-u", f"{getpass.getuser()}:", "--key",
                               str(keys / "client"), "--pubkey", str(keys / "client.pub"),
                               "-o", str(out / source.name), url]  # fmt: skip
                else:
                    parts = tool.rpartition("n")[2]
                    command = [PYTHON, "-m", "curlmulti_dl", "-q", "-n", parts,
                               "--min-part-size", "4M", "--ssh-key", str(keys / "client"),
                               "--ssh-known-hosts", str(keys / "known_hosts"), "-d", str(out),
                               url]  # fmt: skip
                started = time.perf_counter()
                subprocess.run(command, check=True, timeout=600, env=env)
                times[tool].append(time.perf_counter() - started)
                if hashlib.sha256((out / source.name).read_bytes()).hexdigest() != digest:
                    raise RuntimeError(f"{tool}: the output differs")
    finally:
        if far is not None:
            far.kill()  # our own child, by its PID
        sshd.terminate()
        sshd.wait(10)
    report = Report("sftp-far" if args.far else "sftp-loopback", "s")
    for tool, values in times.items():
        for value in values:
            report.add(f"{args.size_mib} MiB", tool, value)
    for line in lines:
        report.note(line)
    where = "through the far-server emulator" if args.far else "on loopback"
    lines.append(f"{args.size_mib} MiB over SFTP {where}, medians of {args.runs} "
                 "alternating runs: tool, seconds, MiB/s, ratio to curl")  # fmt: skip
    base = median(times["curl"])
    for tool in tools:
        m = median(times[tool])
        lines.append(f"  {tool}: {m:.2f} s ({min(times[tool]):.2f}-{max(times[tool]):.2f}), "
                     f"{args.size_mib / m:.0f} MiB/s, {m / base:.2f}")  # fmt: skip
    print("\n".join(lines))
    report.write()
    return 0


if __name__ == "__main__":
    sys.exit(main())
