"""Real servers for the tests, on 127.0.0.1: vsftpd (unpacked by
tests/setup.sh) and nginx with autoindex. Each runs under ``timeout``, so it
stops on its own if the tests die, and is stopped by its PID otherwise."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent.parent
VSFTPD = REPO / ".venv" / "vsftpd" / "usr" / "sbin" / "vsftpd"
NGINX = Path("/usr/sbin/nginx")
LIFETIME = "900"  # seconds: the longest a server outlives a crashed test run

VSFTPD_CONF = """listen=YES
listen_ipv6=NO
listen_address=127.0.0.1
listen_port={port}
background=NO
anonymous_enable=YES
no_anon_password=YES
local_enable=NO
write_enable=NO
ftp_username=ftp
anon_root={root}
secure_chroot_dir={work}/empty
xferlog_enable=NO
seccomp_sandbox=NO
connect_from_port_20=NO
pasv_address=127.0.0.1
max_per_ip={max_per_ip}
"""

NGINX_CONF = """daemon off;
user root;
worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {work}/tmp;
    proxy_temp_path {work}/tmp;
    fastcgi_temp_path {work}/tmp;
    uwsgi_temp_path {work}/tmp;
    scgi_temp_path {work}/tmp;
    server {{
        listen 127.0.0.1:{port};
        location / {{ root {root}; autoindex on; }}
    }}
}}
"""


@dataclass
class Running:
    process: subprocess.Popen[bytes]
    port: int

    def url(self, scheme: str, path: str) -> str:
        return f"{scheme}://127.0.0.1:{self.port}/{path}"

    def stop(self) -> None:
        self.process.terminate()  # by its own PID, which we started
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_listening(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    for _ in range(100):
        if process.poll() is not None:
            raise RuntimeError(f"exited {process.returncode}: {log.read_text()[-300:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("did not listen within 5 s")


def start_vsftpd(root: Path, work: Path, max_per_ip: int = 0) -> Running:
    """vsftpd serving ``root`` (made world-readable) to anonymous users."""
    if not VSFTPD.exists():
        pytest.skip(f"vsftpd is not unpacked at {VSFTPD} (tests/setup.sh needs root and apt)")
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("vsftpd needs root and unshare (its ftp user's home is bind-mounted)")
    for path in [root, *root.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    (work / "empty").mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = work / "vsftpd.conf"
    conf.write_text(VSFTPD_CONF.format(port=port, root=root, work=work, max_per_ip=max_per_ip))
    # vsftpd goes to its ftp user's home first: a passwd of our own, seen only
    # by this process (a mount namespace), names one.
    lines = [
        line for line in Path("/etc/passwd").read_text().splitlines() if not line.startswith("ftp:")
    ]
    (work / "passwd").write_text(
        "\n".join([*lines, f"ftp:x:65534:65534:ftp:{root}:/bin/false"]) + "\n"
    )
    wrap = f'mount --bind {work}/passwd /etc/passwd && exec "$@"'
    log = work / "vsftpd.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            ["timeout", LIFETIME, "unshare", "-m", "sh", "-c", wrap, "sh", str(VSFTPD), str(conf)],
            stdout=out,
            stderr=out,
        )
    _wait_listening(process, port, log)
    return Running(process, port)


def start_nginx(root: Path, work: Path) -> Running:
    """nginx serving ``root`` with autoindex pages."""
    if not NGINX.exists():
        pytest.skip("nginx is not installed (tests/setup.sh needs root and apt)")
    (work / "tmp").mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = work / "nginx.conf"
    conf.write_text(NGINX_CONF.format(port=port, root=root, work=work))
    log = work / "error.log"
    process = subprocess.Popen(
        ["timeout", LIFETIME, str(NGINX), "-c", str(conf), "-p", str(work)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _wait_listening(process, port, log)
    return Running(process, port)
