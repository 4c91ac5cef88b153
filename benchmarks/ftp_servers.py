"""How vsftpd, proftpd and pure-ftpd answer the commands a fast FTP client wants to use.

    .venv/bin/python benchmarks/ftp_servers.py

Each server runs in the foreground as a child of this script, on 127.0.0.1 and a free port,
anonymous and read-only, serving ``jma/hsd/202611/25/08/HS_H09_B13.DAT`` (300 KB) and a 24 MiB
file beside it. Plain pycurl (VERBOSE + DEBUGFUNCTION) records the dialogue of nocwd and
singlecwd SIZE + RETR, MLST as a PREQUOTE, the 150 reply, EPSV, MDTM, FEAT, REST + RETR, a
bounded RANGE, and commands and time per file (a new handle, then the same one again), direct
and through tests/servers/farproxy.py (100 ms round trip, 2 MiB/s); every sha256 is checked.

The three Debian packages conflict (each Provides and Conflicts ftp-server), so a missing one
is unpacked under /tmp (apt-get download + dpkg-deb -x) and only its libraries are installed.
pure-ftpd and vsftpd need a system account ``ftp`` whose home is the anonymous root: each
server runs in a mount namespace of its own where a copy of /etc/passwd with that account is
bind-mounted; the real /etc/passwd is left alone. Configs keep the servers' defaults otherwise
(vsftpd and proftpd ask anonymous for a password; pure-ftpd does not).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pycurl
from common import WORK, MiB, median
from far import proxy_stats, start

import curlmulti_dl

BASE = WORK / "ftp-servers"
DATA = BASE / "data"
SMALL, BIG = "jma/hsd/202611/25/08/HS_H09_B13.DAT", "jma/hsd/202611/25/08/HS_H09_FLDK_S01.DAT"
PACKAGES = {"vsftpd": "vsftpd", "proftpd": "proftpd-core", "pure-ftpd": "pure-ftpd"}
OFFSET, RUNS = 12_345_678, 3
METHODS = {"nocwd": pycurl.FTPMETHOD_NOCWD, "singlecwd": pycurl.FTPMETHOD_SINGLECWD,
           "multicwd": pycurl.FTPMETHOD_MULTICWD}  # fmt: skip

VSFTPD = """listen=YES\nlisten_ipv6=NO\nlisten_address=127.0.0.1\nlisten_port={port}
background=NO\nanonymous_enable=YES\nlocal_enable=NO\nwrite_enable=NO
ftp_username=ftp\nsecure_chroot_dir={work}/empty\nxferlog_enable=NO\nseccomp_sandbox=NO
connect_from_port_20=NO\n"""
PROFTPD = """ServerType standalone\nPort {port}\nDefaultAddress 127.0.0.1\nSocketBindTight on
UseIPv6 off\nUser nobody\nGroup nogroup\nPidFile {work}/proftpd.pid\nDelayTable {work}/proftpd.delay
ScoreboardFile {work}/proftpd.scoreboard\nWtmpLog off\nUseReverseDNS off\nTransferLog none
RequireValidShell off\n<Anonymous {data}>\n  User ftp\n  Group nogroup\n  UserAlias anonymous ftp
  <Limit WRITE>\n    DenyAll\n  </Limit>\n</Anonymous>\n"""


def sh(*cmd: str) -> str:
    return subprocess.run(cmd, capture_output=True, text=True).stdout


def install(name: str, package: str) -> tuple[str, str]:
    """The server's binary and version; a missing package is unpacked under BASE."""
    debs = BASE / "debs"
    version = sh("dpkg-query", "-W", "-f", "${Status} ${Version}", package).split()
    if version[:3] == ["install", "ok", "installed"]:
        return f"/usr/sbin/{name}", f"{package} {version[3]} (installed)"
    debs.mkdir(parents=True, exist_ok=True)
    os.chmod(debs, 0o777)  # apt-get download runs as _apt
    if not list(debs.glob(f"{package}_*.deb")):
        if not sh("apt-cache", "policy", package).strip():
            subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(["apt-get", "download", "-qq", package], cwd=debs, check=True)
    deb = str(next(debs.glob(f"{package}_*.deb")))
    subprocess.run(["dpkg-deb", "-x", deb, str(BASE / "root")], check=True)
    depends = sh("dpkg-deb", "-f", deb, "Depends").split(",")
    libs = [d.split("|")[0].split()[0] for d in depends if re.match(r"\s*(lib|zlib)", d)]
    missing = [lib for lib in libs if "ok installed" not in sh("dpkg-query", "-W", "-f",
               "${Status}", lib)]  # fmt: skip
    if missing:  # no daemon may start on 0.0.0.0:21 while installing
        policy, ours = Path("/usr/sbin/policy-rc.d"), not Path("/usr/sbin/policy-rc.d").exists()
        if ours:
            policy.write_text("#!/bin/sh\nexit 101\n")
            policy.chmod(0o755)
        try:
            subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends",
                            *missing], env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
                           check=True)  # fmt: skip
        finally:
            if ours:
                policy.unlink()
    unpacked = sh("dpkg-deb", "-f", deb, "Version").strip()
    return str(BASE / "root/usr/sbin" / name), f"{package} {unpacked} (unpacked .deb)"


def port_21() -> str:
    """Stop, by its PID, any daemon of these packages that listens on port 21."""
    found = re.findall(r':21\s.*?\(\("([^"]+)",pid=(\d+)', sh("ss", "-ltnp"))
    for who, pid in found:
        if who in PACKAGES:
            os.kill(int(pid), 15)
    return ", ".join(f"{who} (pid {pid})" for who, pid in found) or "nothing"


def make_data() -> dict[str, bytes]:
    rng, files = random.Random(2026_11_25), {}
    for name, size in ((SMALL, 300_000), (BIG, 24 * MiB)):
        files[name] = rng.randbytes(size)
        (DATA / name).parent.mkdir(parents=True, exist_ok=True)
        (DATA / name).write_bytes(files[name])
    for path in [BASE, *DATA.rglob("*"), DATA]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return files


def launch(name: str, binary: str) -> tuple[subprocess.Popen[bytes] | None, int, str]:
    """Start a server on a free port; (process, port, '') or (None, 0, why it failed)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    work = BASE / name
    (work / "empty").mkdir(parents=True, exist_ok=True)
    fill = {"port": port, "work": work, "data": DATA}
    cmd, env = [binary], dict(os.environ)
    if name == "vsftpd":
        (work / "vsftpd.conf").write_text(VSFTPD.format(**fill))
        cmd.append(str(work / "vsftpd.conf"))
    elif name == "proftpd":
        (work / "proftpd.conf").write_text(PROFTPD.format(**fill))
        cmd += ["-n", "-c", str(work / "proftpd.conf")]
    else:  # -e anonymous only, -i no uploads; FTP_ANON_DIR alone is not enough
        cmd += ["-S", f"127.0.0.1,{port}", "-4", "-e", "-i", "-H"]
        env["FTP_ANON_DIR"] = str(DATA)
    passwd = [line for line in Path("/etc/passwd").read_text().splitlines()
              if not line.startswith("ftp:")]  # fmt: skip
    (work / "passwd").write_text("\n".join([*passwd, f"ftp:x:65534:65534:ftp:{DATA}:/bin/false"]))
    wrap = f'mount --bind {work}/passwd /etc/passwd && exec "$@"'
    with open(work / "stderr.log", "wb") as log:  # the child keeps its own copy
        process = subprocess.Popen(["unshare", "-m", "sh", "-c", wrap, "sh", *cmd], env=env,
                                   stdout=log, stderr=log)  # fmt: skip
    for _ in range(100):
        if process.poll() is not None:
            why = (work / "stderr.log").read_text()[-200:]
            return None, 0, f"exited {process.returncode}: {why}"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process, port, ""
        except OSError:
            time.sleep(0.05)
    process.kill()
    process.wait()
    return None, 0, "did not listen within 5 s"


def transfer(url: str, curl: pycurl.Curl | None = None, **opts: Any) -> dict[str, Any]:
    """One request: sha256 of the body, error, seconds, dialogue ('> CMD' / '< reply')."""
    c, digest, lines = curl or pycurl.Curl(), hashlib.sha256(), list[str]()

    def debug(kind: int, data: bytes) -> None:
        if kind in (pycurl.INFOTYPE_HEADER_IN, pycurl.INFOTYPE_HEADER_OUT):
            arrow = "<" if kind == pycurl.INFOTYPE_HEADER_IN else ">"
            lines.extend(f"{arrow} {line}" for line in data.decode(errors="replace").splitlines())

    fixed = {"URL": url, "VERBOSE": 1, "DEBUGFUNCTION": debug, "WRITEFUNCTION": digest.update,
             "USERPWD": "anonymous:bench@example.com", "TIMEOUT": 120}  # fmt: skip
    for key, value in {**fixed, **opts}.items():
        c.setopt(getattr(pycurl, key), value)
    started, error = time.perf_counter(), ""
    try:
        c.perform()
    except pycurl.error as exc:
        error = f"curl error {exc.args[0]}: {exc.args[1]}"
    result = {"sha": digest.hexdigest(), "error": error, "secs": time.perf_counter() - started,
              "lines": lines, "filetime": c.getinfo(pycurl.INFO_FILETIME),
              "connects": c.getinfo(pycurl.NUM_CONNECTS)}  # fmt: skip
    if curl is None:
        c.close()  # QUIT now, not whenever the garbage collector gets to it
    return result


def reply(result: dict[str, Any], command: str) -> str:
    """The reply lines to the first command starting with ``command``, joined by ' / '."""
    out: list[str] = []
    for line in result["lines"]:
        if out and line.startswith(">"):
            break
        if out or line.startswith(f"> {command}"):
            out.append(line)
    return " / ".join(line[2:] for line in out[1:]) or "(not sent)"


def ok(result: dict[str, Any], want: bytes) -> str:
    if result["error"]:
        return str(result["error"])
    return "sha ok" if result["sha"] == hashlib.sha256(want).hexdigest() else "SHA MISMATCH"


def probe(port: int, files: dict[str, bytes], far_port: int, cells: dict[str, str]) -> None:
    """Fill ``cells`` (row -> answer) for the server on ``port`` (and the proxy to it)."""
    url, small, big = f"ftp://127.0.0.1:{port}/", files[SMALL], files[BIG]
    nocwd = {"FTP_FILEMETHOD": pycurl.FTPMETHOD_NOCWD}
    r = transfer(url + SMALL, **nocwd)
    retr = reply(r, "RETR").split(" / ")
    cells["1a nocwd: SIZE path / RETR path"] = f"{reply(r, 'SIZE')} / {retr[0]} → {ok(r, small)}"
    got = " / ".join(x for x in retr if x[:1] == "1")
    sized = re.search(rf"\({len(small)} bytes\)", got)
    cells["3 size in 150 reply"] = f"{'yes' if sized else 'NO'}: `{got}`"
    cells["4a EPSV"] = reply(r, "EPSV")
    r = transfer(url + SMALL, FTP_FILEMETHOD=pycurl.FTPMETHOD_SINGLECWD)
    cells["1b singlecwd: CWD dir / SIZE name / RETR name"] = (
        f"{reply(r, 'CWD')[:3]} / {reply(r, 'SIZE')} / {reply(r, 'RETR')[:3]} → {ok(r, small)}"
    )
    r = transfer(url + SMALL, PREQUOTE=[f"*MLST {SMALL}"], IGNORE_CONTENT_LENGTH=1, **nocwd)
    got = reply(r, "MLST")
    has = got.startswith("250") and "size=" in got.lower() and "modify=" in got.lower()
    cells["2 MLST path (PREQUOTE), then RETR"] = (
        f"{'yes' if has else 'NO'}: `{got}` → {ok(r, small)}"
    )
    r = transfer(url + SMALL, NOBODY=1, OPT_FILETIME=1, QUOTE=["FEAT"], **nocwd)
    same = r["filetime"] == int((DATA / SMALL).stat().st_mtime)
    cells["4b MDTM"] = f"{reply(r, 'MDTM')} ({'=' if same else '≠'} mtime)"
    feat = [f.split()[0] for f in reply(r, "FEAT").split(" / ")[1:-1] if f.strip()]
    cells["4c FEAT"] = ", ".join(feat)
    r = transfer(url + BIG, RESUME_FROM_LARGE=OFFSET, **nocwd)
    cells[f"5 REST {OFFSET} + RETR (24 MiB)"] = f"{reply(r, 'REST')} → {ok(r, big[OFFSET:])}"
    curl = pycurl.Curl()
    r = transfer(url + BIG, curl, RANGE=f"{OFFSET}-{OFFSET + MiB - 1}", **nocwd)
    curl.unsetopt(pycurl.RANGE)
    again = transfer(url + SMALL, curl, **nocwd)
    curl.close()
    cells["5b RANGE 1 MiB, then next file on the handle"] = (
        f"{ok(r, big[OFFSET : OFFSET + MiB])}; ABOR → `{reply(r, 'ABOR')}`; next: "
        f"{'reused' if again['connects'] == 0 else 'NEW connection'}, {ok(again, small)}"
    )
    for label, base in (("direct", url), ("far", f"ftp://127.0.0.1:{far_port}/")):
        for method, value in METHODS.items():
            counts, secs = [], []
            for _ in range(RUNS):
                time.sleep(0.5)  # the sessions before have ended (see 6c)
                curl = pycurl.Curl()
                runs = [transfer(base + SMALL, curl, FTP_FILEMETHOD=value) for _ in "ab"]
                curl.close()
                if any(ok(x, small) != "sha ok" for x in runs):
                    raise RuntimeError(f"{method}: {[ok(x, small) for x in runs]}")
                counts.append([sum(line[0] == ">" for line in x["lines"]) for x in runs])
                secs.append([x["secs"] * 1000 for x in runs])
            cold, warm = median([s[0] for s in secs]), median([s[1] for s in secs])
            cells[f"6 {label} {method}: commands, ms (cold/warm)"] = (
                f"{counts[0][0]}/{counts[0][1]}, {cold:.0f}/{warm:.0f}"
            )
    lag = []  # a new session right after another one ended (QUIT, server child exits)
    for _ in range(RUNS):
        time.sleep(0.5)
        transfer(url + SMALL, **nocwd)
        lag.append(transfer(url + SMALL, **nocwd)["secs"] * 1000)
    cells["6c direct nocwd cold, right after a QUIT (ms)"] = ", ".join(f"{x:.0f}" for x in lag)


def engine(far_port: int, stats_port: int, cells: dict[str, str]) -> None:
    """This project with its defaults through the proxy: the small file and the
    24 MiB one (4 parts) together; commands counted at the proxy."""
    out = BASE / "engine-out"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    base = f"ftp://127.0.0.1:{far_port}/"

    async def run() -> list[curlmulti_dl.DownloadResult]:
        async with curlmulti_dl.Downloader(max_host_connections=4) as dl:
            big = dl.fetch(base + BIG, out, parts=4, ftp_min_part_size=4 * MiB)
            return list(await asyncio.gather(dl.fetch(base + SMALL, out), big))

    before = proxy_stats(stats_port)["commands"]
    started = time.perf_counter()
    results = asyncio.run(run())
    secs = time.perf_counter() - started
    after = proxy_stats(stats_port)["commands"]
    sent = {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}
    checks = []
    for name, result in zip((SMALL, BIG), results, strict=True):
        same = (
            hashlib.sha256(result.path.read_bytes()).digest()
            == hashlib.sha256((DATA / name).read_bytes()).digest()
        )
        stamped = int(result.path.stat().st_mtime) == int((DATA / name).stat().st_mtime)
        checks.append(
            f"{'sha ok' if same else 'SHA DIFFERS'}, mtime {'kept' if stamped else 'not kept'}"
        )
    cells["7 curlmulti_dl defaults, far: 300 KB + 24 MiB (4 parts) together"] = (
        f"{secs:.2f} s; {'; '.join(checks)}; {', '.join(f'{k} {v}' for k, v in sent.items())}"
    )
    shutil.rmtree(out, ignore_errors=True)


def main() -> None:
    binaries: dict[str, tuple[str, str]] = {}
    columns: dict[str, dict[str, str]] = {}
    for name, package in PACKAGES.items():
        try:
            binaries[name] = install(name, package)
        except (OSError, subprocess.CalledProcessError, StopIteration) as exc:
            binaries[name] = ("", f"{package}: install failed: {exc}")
    listening = port_21()
    files = make_data()
    for name, (binary, _) in binaries.items():
        try:
            server, port, why = launch(name, binary) if binary else (None, 0, "not installed")
        except OSError as exc:
            server, port, why = None, 0, str(exc)
        if server is None:
            columns[name] = {"start": f"FAILED: {why}"}
            continue
        proxy, columns[name] = None, {"start": f"ok, port {port}"}
        try:
            proxy, (far_port, stats_port) = start(
                "farproxy.py", "--ftp", "--target", f"127.0.0.1:{port}",
                "--delay", "0.05", "--rate", str(2 * MiB),
            )  # fmt: skip
            probe(port, files, far_port, columns[name])
            engine(far_port, stats_port, columns[name])
        except Exception as exc:  # one server's failure is a cell, not a crash
            columns[name]["error"] = f"{type(exc).__name__}: {exc}"
        finally:
            for process in (proxy, server):  # each by its own PID
                if process is not None:
                    process.terminate()
                    try:
                        process.wait(10)
                    except subprocess.TimeoutExpired:
                        process.kill()
    rows = list(dict.fromkeys(row for cells in columns.values() for row in cells))
    print("# FTP servers: answers to a fast client's commands\n")
    print(f"{pycurl.version}; far = farproxy, 100 ms round trip, 2 MiB/s; {RUNS} runs;")
    print(f"listening on port 21 after the install: {listening}. Row 6: cold = a new handle's")
    print("first file (login included), warm = the next file on its connection; medians.\n")
    for name, (_, version) in binaries.items():
        print(f"- {name}: {version}")
    print(f"\n| question | {' | '.join(columns)} |\n|---|{'---|' * len(columns)}")
    for row in rows:
        cells = [columns[n].get(row, "").replace("|", "\\|") for n in columns]
        print(f"| {row} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
