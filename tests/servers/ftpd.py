"""pyftpdlib on 127.0.0.1 serving ``--root`` read-only to anonymous users.

One thread per session: pyftpdlib's single-threaded server sent stray 226
replies under 16 concurrent sessions, so REST failed (curl 31) for plain curl
processes as well as for us.

Prints ``PORT <n>`` once it listens; exits when its parent dies or after
``--lifetime`` seconds. ``--max-cons-per-ip`` makes it answer 421 beyond that.
``--log FILE`` appends one line per command received: ``<session> <COMMAND> <arg>``
(passwords as ``***``), so tests can count logins and round trips.
Older dialects, as other servers speak: ``--no-mlst`` (vsftpd has no MLST or MLSD),
``--no-paths`` (commands naming ``dir/file`` get 550, as from servers that
take only names in the current directory), ``--announce-size`` (the RETR
reply says "(N bytes)", as vsftpd's and proftpd's do). ``--mlst-short N`` makes
MLST give every size N bytes short (a size that is not the file's).
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
import threading

from lifecycle import exit_with_parent
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.log import config_logging
from pyftpdlib.servers import ThreadedFTPServer


class CommandLog:
    def __init__(self, path: str) -> None:
        self.path = path
        self.lock = threading.Lock()
        self.sessions = 0

    def new_session(self) -> int:
        with self.lock:
            self.sessions += 1
            return self.sessions

    def write(self, session: int, cmd: str, arg: str) -> None:
        with self.lock, open(self.path, "a", encoding="utf-8") as f:
            f.write(f"{session} {cmd} {'***' if cmd == 'PASS' else arg}\n")


def logging_handler(base: type[FTPHandler], log: CommandLog) -> type[FTPHandler]:
    class Logged(base):  # type: ignore[misc, valid-type]
        def on_connect(self) -> None:
            self.session_number = log.new_session()
            super().on_connect()

        def pre_process_command(self, line: str, cmd: str, arg: str) -> None:
            log.write(getattr(self, "session_number", 0), cmd.upper(), arg)
            super().pre_process_command(line, cmd, arg)

    return Logged


def dialect_handler(
    base: type[FTPHandler], no_mlst: bool, no_paths: bool, announce_size: bool, mlst_short: int
) -> type[FTPHandler]:
    class Dialect(base):  # type: ignore[misc, valid-type]
        announced: int | None = None

        def push(self, data: str) -> None:
            if mlst_short and data.startswith(" ") and "size=" in data.lower():
                data = re.sub(
                    r"(?i)size=(\d+)", lambda m: f"size={int(m.group(1)) - mlst_short}", data
                )
            super().push(data)

        def pre_process_command(self, line: str, cmd: str, arg: str) -> None:
            cmd = cmd.upper()
            if no_mlst and cmd in ("MLST", "MLSD"):
                self.respond(f'500 Command "{cmd}" not understood.')
                return
            if no_paths and cmd in ("RETR", "SIZE", "MDTM", "MLST") and "/" in arg:
                self.respond("550 No such file or directory.")
                return
            if announce_size and cmd == "RETR":
                try:
                    self.announced = os.path.getsize(self.fs.ftp2fs(self.fs.ftpnorm(arg)))
                except OSError:
                    self.announced = None
            super().pre_process_command(line, cmd, arg)

        def respond(self, resp: str, logfun: object = None) -> None:
            if self.announced is not None and resp[:4] in ("125 ", "150 "):
                resp = f"{resp.rstrip('.')} ({self.announced} bytes)."
                self.announced = None
            if logfun is None:
                super().respond(resp)
            else:
                super().respond(resp, logfun)

    return Dialect


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--max-cons-per-ip", type=int, default=0)
    parser.add_argument("--certfile")
    parser.add_argument("--keyfile")
    parser.add_argument("--lifetime", type=float, default=1800.0)
    parser.add_argument("--log")
    parser.add_argument("--no-mlst", action="store_true")
    parser.add_argument("--no-paths", action="store_true")
    parser.add_argument("--announce-size", action="store_true")
    parser.add_argument("--mlst-short", type=int, default=0)
    args = parser.parse_args()
    authorizer = DummyAuthorizer()
    authorizer.add_anonymous(args.root, perm="elr")
    authorizer.add_user("user", "secret", args.root, perm="elr")
    handler: type[FTPHandler] = FTPHandler
    if args.certfile:
        from pyftpdlib.handlers import TLS_FTPHandler  # needs pyOpenSSL

        handler = TLS_FTPHandler
        handler.certfile = args.certfile
        handler.keyfile = args.keyfile
    if args.no_mlst or args.no_paths or args.announce_size or args.mlst_short:
        handler = dialect_handler(
            handler, args.no_mlst, args.no_paths, args.announce_size, args.mlst_short
        )
    if args.log:
        handler = logging_handler(handler, CommandLog(args.log))
    handler.authorizer = authorizer
    serve(handler, args.port, args.lifetime, "curlmulti_dl test server", args.max_cons_per_ip)


def serve(
    handler: type[FTPHandler], port: int, lifetime: float, banner: str, max_cons_per_ip: int = 0
) -> None:
    """Serve ``handler`` on 127.0.0.1: ``PORT <n>`` on stdout, then until the
    parent goes (or ``lifetime`` seconds pass)."""
    handler.banner = banner
    handler.permit_foreign_addresses = False
    server = ThreadedFTPServer(("127.0.0.1", port), handler)
    server.max_cons = 512
    server.max_cons_per_ip = max_cons_per_ip
    config_logging(level=logging.ERROR)
    exit_with_parent(lifetime)
    print(f"PORT {server.address[1]}", flush=True)
    sys.stdout.close()
    server.serve_forever(timeout=0.05, handle_exit=False)


if __name__ == "__main__":
    main()
