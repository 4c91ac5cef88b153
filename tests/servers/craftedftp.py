"""pyftpdlib on 127.0.0.1 that says what a test tells it: a hostile or broken
FTP server. It serves ``--root`` read-only to anonymous users, except:

    --mlsd FILE     every MLSD answers with FILE's bytes, as they are
    --list FILE     every LIST answers with FILE's bytes
    --nlst FILE     every NLST answers with FILE's bytes
    --size TEXT     SIZE answers ``213 TEXT``, and MLST's size fact is TEXT
    --no-mlst       MLST and MLSD answer 500 (so SIZE gives the size)

The files are read at each command, so a test may change them between
listings. Prints ``PORT <n>`` once it listens; exits when its parent dies or
after ``--lifetime`` seconds. The ``crafted_ftp`` fixture (tests/conftest.py)
starts it with the texts given.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from ftpd import serve
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler


def crafted_handler(args: argparse.Namespace) -> type[FTPHandler]:
    listings = {"MLSD": args.mlsd, "LIST": args.list, "NLST": args.nlst}

    class Crafted(FTPHandler):  # type: ignore[misc]
        def pre_process_command(self, line: str, cmd: str, arg: str) -> None:
            cmd = cmd.upper()
            if args.no_mlst and cmd in ("MLST", "MLSD"):
                self.respond(f'500 Command "{cmd}" not understood.')
                return
            super().pre_process_command(line, cmd, arg)

        def _crafted(self, cmd: str, path: str) -> str | None:
            text = Path(listings[cmd]).read_bytes()
            self.push_dtp_data(text, cmd=cmd)
            return path

        def ftp_MLSD(self, path: str) -> str | None:
            if args.mlsd is None:
                return super().ftp_MLSD(path)  # type: ignore[no-any-return]
            return self._crafted("MLSD", path)

        def ftp_LIST(self, path: str) -> str | None:
            if args.list is None:
                return super().ftp_LIST(path)  # type: ignore[no-any-return]
            return self._crafted("LIST", path)

        def ftp_NLST(self, path: str) -> str | None:
            if args.nlst is None:
                return super().ftp_NLST(path)  # type: ignore[no-any-return]
            return self._crafted("NLST", path)

        def ftp_SIZE(self, path: str) -> None:
            if args.size is None:
                super().ftp_SIZE(path)
            elif not self.fs.isfile(self.fs.realpath(path)):
                self.respond("550 Not a file.")
            else:
                self.respond(f"213 {args.size}")

        def push(self, data: str) -> None:
            # MLST's facts line (it alone starts with a space) with our size.
            if args.size is not None and data.startswith(" ") and "size=" in data.lower():
                data = re.sub(r"(?i)size=[^;]*", lambda m: f"size={args.size}", data)
            super().push(data)

    return Crafted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--lifetime", type=float, default=1800.0)
    parser.add_argument("--mlsd")
    parser.add_argument("--list")
    parser.add_argument("--nlst")
    parser.add_argument("--size")
    parser.add_argument("--no-mlst", action="store_true")
    args = parser.parse_args()
    authorizer = DummyAuthorizer()
    authorizer.add_anonymous(args.root, perm="elr")
    handler = crafted_handler(args)
    handler.authorizer = authorizer
    handler.unicode_errors = "surrogateescape"  # names that are not UTF-8 pass as bytes
    serve(handler, args.port, args.lifetime, "curlmulti_dl crafted test server")


if __name__ == "__main__":
    main()
