"""Shared benchmark plumbing: data files, an nginx on 127.0.0.1, timed child processes."""

from __future__ import annotations

import hashlib
import os
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

MiB = 1024 * 1024
GiB = 1024 * MiB
WORK = Path(os.environ.get("BENCH_DIR", tempfile.gettempdir())) / "curlmulti-bench"

NGINX_CONF = """\
daemon off;
worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    client_body_temp_path {work}/tmp;
    proxy_temp_path {work}/tmp;
    fastcgi_temp_path {work}/tmp;
    uwsgi_temp_path {work}/tmp;
    scgi_temp_path {work}/tmp;
    # Every 5th connection (numbers ending in 0 or 5) is 4x slower.
    map $connection $mixed_rate {{ ~[05]$ 2m; default 8m; }}
    # pypdl splits only when its HEAD shows Accept-Ranges, an ETag and a
    # Content-Disposition; else it asks GET bytes=0-0, whose 206 has no
    # Accept-Ranges, and falls back to one connection. The others ignore it.
    add_header Content-Disposition attachment;
    server {{
        listen 127.0.0.1:{port};
        location /fast/ {{ alias {data}/; }}
        location /throttle/ {{ alias {data}/; limit_rate 8m; }}
        location /mixed/ {{ alias {data}/; limit_rate $mixed_rate; }}
    }}
}}
"""


def make_file(name: str, size: int) -> Path:
    """A file of pseudo-random bytes (a 64 MiB random block, each copy stamped)."""
    data = WORK / "data"
    data.mkdir(parents=True, exist_ok=True)
    path = data / name
    if path.exists() and path.stat().st_size == size:
        return path
    block = bytearray(os.urandom(64 * MiB))
    with open(path, "wb") as f:
        written, index = 0, 0
        while written < size:
            block[:8] = index.to_bytes(8, "little")
            piece = memoryview(block)[: min(len(block), size - written)]
            f.write(piece)
            written += len(piece)
            index += 1
    return path


_digests: dict[Path, str] = {}


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(4 * MiB):
            digest.update(chunk)
    return digest.hexdigest()


def source_digest(path: Path) -> str:
    if path not in _digests:
        _digests[path] = sha256(path)
    return _digests[path]


class Nginx:
    def __init__(self, port: int = 18080) -> None:
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Nginx:
        (WORK / "tmp").mkdir(parents=True, exist_ok=True)
        conf = WORK / "nginx.conf"
        conf.write_text(NGINX_CONF.format(work=WORK, data=WORK / "data", port=self.port))
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        self.process = subprocess.Popen([nginx, "-c", str(conf), "-p", str(WORK)])
        time.sleep(0.5)
        return self

    def url(self, location: str, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{location}/{name}"

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)


@dataclass
class Run:
    wall: float
    cpu: float
    max_rss_kib: int
    user: float = 0.0
    system: float = 0.0
    steal: float = 0.0  # seconds the hypervisor gave this VM's CPUs to others


def _steal_seconds() -> float:
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    return int(fields[8]) / os.sysconf("SC_CLK_TCK") if len(fields) > 8 else 0.0


def timed(cmd: list[str], timeout: float = 600) -> Run:
    """Run ``cmd``; wall time, CPU seconds (user+sys) and peak RSS of the child.

    Dirty pages of the previous run are written back first, so no tool pays
    for the one before it.
    """
    os.sync()
    # Writeback settles after sync; quick runs (one per tool) wait less.
    time.sleep(0.2 if os.environ.get("BENCH_QUICK") else 1.0)
    # GNU time reports the peak RSS of the tool itself: a child forked from this
    # (large) benchmark process would report the parent's pages as its own.
    gnu_time = shutil.which("time") or "/usr/bin/time"
    if os.path.exists(gnu_time):
        cmd = [gnu_time, "-f", "MAXRSS %M", *cmd]
    steal = _steal_seconds()
    started = time.perf_counter()
    process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    killer = threading.Timer(timeout, process.kill)  # a hung tool fails its run
    killer.start()
    _, status, usage = os.wait4(process.pid, 0)
    killer.cancel()
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    stderr = process.stderr.read().decode() if process.stderr else ""
    if process.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({process.returncode}): {stderr[-500:]}")
    max_rss = usage.ru_maxrss
    for line in stderr.splitlines():
        if line.startswith("MAXRSS "):
            max_rss = int(line.split()[1])
    return Run(wall, usage.ru_utime + usage.ru_stime, max_rss, usage.ru_utime, usage.ru_stime,
               _steal_seconds() - steal)  # fmt: skip


def check_output(out: Path, source: Path) -> None:
    if sha256(out) != source_digest(source):
        raise RuntimeError(f"{out} differs from {source}")
    out.unlink()


def median(values: list[float]) -> float:
    return statistics.median(values)


PYTHON = str(Path(__file__).resolve().parent.parent / ".venv/bin/python")
PEERS_PYTHON = str(Path(__file__).resolve().parent / ".peers-venv/bin/python")
SEED_TOOL = str(Path(__file__).resolve().parent / "seed_tool.py")


def compile_sources() -> None:
    """Bytecode for the project's modules, as a wheel's install has.

    The editable install of ``make venv`` has none, and this machine sets
    PYTHONDONTWRITEBYTECODE, so every start of the CLI would compile its
    modules from source (about 60 ms of its start-up here).
    """
    source = Path(__file__).resolve().parent.parent / "src"
    subprocess.run([PYTHON, "-m", "compileall", "-q", str(source)], check=True)


# The Python peers at their best for one file: all parts of it at once.
PARFIVE_ONE = """
import sys, pathlib, parfive
url, out, parts = sys.argv[1], pathlib.Path(sys.argv[2]), int(sys.argv[3])
dl = parfive.Downloader(max_conn=1, max_splits=parts, progress=False, overwrite=True)
dl.enqueue_file(url, path=out.parent, filename=out.name)
sys.exit(1 if dl.download().errors else 0)
"""
PYPDL_ONE = """
import sys, pypdl
url, out, parts = sys.argv[1], sys.argv[2], int(sys.argv[3])
result = pypdl.Pypdl().start(url, file_path=out, segments=parts, display=False, retries=0)
sys.exit(0 if result and all(r is not None for r in result) else 1)
"""


def tool_command(tool: str, url: str, out: Path, parts: int = 8, size: int = 0) -> list[str]:
    """The command line of one downloader writing ``url`` to ``out``."""
    if tool == "curlmulti_dl":
        return [PYTHON, "-m", "curlmulti_dl", "-q", "-n", str(parts), "-o", str(out), url]
    if tool == "curl":
        return ["curl", "-s", "-o", str(out), url]
    if tool == "aria2c":
        return [
            "aria2c",
            "-q",
            "-x",
            str(parts),
            "-s",
            str(parts),
            "-k",
            "1M",
            "--allow-overwrite=true",
            "--auto-file-renaming=false",
            "--file-allocation=falloc",
            "-d",
            str(out.parent),
            "-o",
            out.name,
            url,
        ]
    if tool == "axel":
        return ["axel", "-q", "-n", str(parts), "-o", str(out), url]
    if tool == "wget2":
        # wget2 splits a file only by --chunk-size: one chunk per thread.
        chunk = max(1, -(-size // parts // MiB)) if size else 1
        return ["wget2", "-q", "--no-robots", f"--max-threads={parts}",
                f"--chunk-size={chunk}M", "-O", str(out), url]  # fmt: skip
    if tool == "lftp":
        return ["lftp", "-e", f"set cmd:fail-exit yes; pget -n {parts} -O {out.parent} "
                f"{url} -o {out.name}; quit"]  # fmt: skip
    if tool == "seed":
        return [PYTHON, SEED_TOOL, "-n", str(parts), "-o", str(out), url]
    if tool == "parfive":
        return [PEERS_PYTHON, "-c", PARFIVE_ONE, url, str(out), str(parts)]
    if tool == "pypdl":
        return [PEERS_PYTHON, "-c", PYPDL_ONE, url, str(out), str(parts)]
    raise ValueError(tool)
