"""OpenSSH's sshd for tests, on 127.0.0.1 only, with its own host key and
an authorized client key, stopped by its PID when its parent dies or after
``--lifetime`` seconds.

    sshd_run.py --dir DIR --port N   (DIR: host, client.pub, sshd_config are written there)

Prints ``PORT <n>`` once sshd accepts connections.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

SSHD = "/usr/sbin/sshd"
SFTP_SERVER = "/usr/lib/openssh/sftp-server"

CONFIG = """\
ListenAddress 127.0.0.1
Port {port}
HostKey {dir}/host
AuthorizedKeysFile {dir}/authorized_keys
PidFile {dir}/sshd.pid
StrictModes no
UsePAM no
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
Subsystem sftp {dir}/sftp-server
MaxStartups 100:30:200
MaxSessions 50
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", required=True, type=Path)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--lifetime", type=float, default=1200.0)
    args = parser.parse_args()
    config = args.dir / "sshd_config"
    config.write_text(CONFIG.format(port=args.port, dir=args.dir))
    # OpenSSH's sftp-server, its INFO lines (open, close "PATH" bytes read N)
    # appended to DIR/sftp.log for tests to count what it served.
    wrapper = args.dir / "sftp-server"
    wrapper.write_text(f"#!/bin/sh\nexec {SFTP_SERVER} -e -l INFO 2>>{args.dir}/sftp.log\n")
    wrapper.chmod(0o755)
    os.makedirs("/run/sshd", exist_ok=True)  # its privilege separation directory
    parent = os.getppid()
    # SIGTERM ends this wrapper through its finally, which stops sshd.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    sshd = subprocess.Popen(
        [SSHD, "-D", "-f", str(config), "-E", str(args.dir / "sshd.log")],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,  # never our caller's pipe: it would stay open
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", args.port), timeout=0.5).close()
            break
        except OSError:
            if sshd.poll() is not None:
                print(f"FAILED {sshd.returncode}", flush=True)
                return
            time.sleep(0.05)
    print(f"PORT {args.port}", flush=True)
    sys.stdout.close()
    end = time.monotonic() + args.lifetime
    try:
        while time.monotonic() < end and os.getppid() == parent and sshd.poll() is None:
            time.sleep(0.5)
    finally:
        sshd.terminate()  # by the PID we started
        try:
            sshd.wait(5)
        except subprocess.TimeoutExpired:
            sshd.kill()


if __name__ == "__main__":
    main()
