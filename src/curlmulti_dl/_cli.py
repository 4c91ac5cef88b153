"""The ``curlmulti-dl`` command (what it shows is in ``_display.py``).

Exit codes: 0 every URL downloaded, 1 at least one failed, 2 usage error,
130 / 143 / 129 stopped by SIGINT / SIGTERM / SIGHUP.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import __version__
from ._destination import resolve_destination
from ._display import make_display
from ._downloader import Downloader
from ._exceptions import DownloadError
from ._integrity import Checksum
from ._names import filename_from_url, parse_origin
from ._policy import RetryPolicy
from ._signals import StopSignals
from ._storage import part_path_for

__all__ = ["main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

_EPILOG = """\
examples:
  curlmulti-dl https://example.org/data/big.nc              8 connections into ./big.nc
  curlmulti-dl -n 16 -d /data ftp://ftp.example.org/pub/a.nc b.nc-url
  curlmulti-dl -o out.bin --cacert ca.pem https://127.0.0.1:8443/file

A file is written as NAME.part and renamed to NAME only when every byte
arrived; on failure NAME is never created and NAME.part is removed. An
existing NAME is left alone unless --force is given. A character device or
FIFO given to -o (and -o - for standard output) is written as one stream.

Exit status: 0 all downloaded, 1 a download failed, 2 usage error,
130 interrupted (SIGINT, Ctrl+C), 143 terminated (SIGTERM), 129 hung up (SIGHUP).
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="curlmulti-dl",
        description="Download files over many connections at once (HTTP, HTTPS, FTP, FTPS).",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("urls", nargs="+", metavar="URL", help="what to download")
    parser.add_argument(
        "-n",
        "--parts",
        type=int,
        default=8,
        metavar="N",
        help="connections (byte ranges) per file (default: 8)",
    )
    parser.add_argument(
        "-o", "--output", metavar="FILE", help="save to FILE (one URL only; - for standard output)"
    )
    parser.add_argument(
        "-d",
        "--dir",
        metavar="DIR",
        help="save into DIR, named after the URL (default: current directory)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="print errors only")
    parser.add_argument(
        "-f", "--force", action="store_true", help="replace existing files (keeping their mode)"
    )
    parser.add_argument(
        "--max-host-connections",
        type=int,
        default=16,
        metavar="N",
        help="connections per host across all files (default: 16)",
    )
    parser.add_argument(
        "--min-part-size",
        type=_size,
        metavar="SIZE",
        help="split a file only into parts at least this large, e.g. 512K, 4M "
        "(default: 1 MiB for HTTP, 8 MiB for FTP, where every part is a login)",
    )
    parser.add_argument("--cacert", metavar="PEM", help="trust the CA certificates in PEM")
    parser.add_argument(
        "--ftp-ssl", action="store_true", help="require TLS on ftp:// URLs (explicit FTPS)"
    )
    parser.add_argument(
        "-k", "--insecure", action="store_true", help="do not verify TLS certificates"
    )
    parser.add_argument(
        "--connect-timeout",
        type=float,
        default=30.0,
        metavar="SEC",
        help="seconds to connect and log in (default: 30)",
    )
    parser.add_argument(
        "--checksum",
        metavar="ALGO:HEX",
        help="the file's expected digest, e.g. sha256:9f86d0... (md5, sha1, sha512 too), "
        "checked after the last byte; on a mismatch the file is not kept (one URL only)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        metavar="SEC",
        help="a connection that sends nothing for this long is a failure (retried); "
        "not a limit on the whole download (default: 60)",
    )
    parser.add_argument(
        "--max-time",
        type=float,
        metavar="SEC",
        help="give up on a file not done after this long (kept for a later run)",
    )
    parser.add_argument(
        "--no-resume",
        action="store_true",
        help="start from nothing even if NAME.part and its journal are there, and keep "
        "nothing when stopped (default: go on where the last run stopped)",
    )
    parser.add_argument(
        "--retries",
        type=int,
        default=RetryPolicy().attempts,
        metavar="N",
        help="failures a file may have (cut connections, timeouts, busy servers) before it "
        "fails; each failed range starts again where it stopped (default: %(default)s)",
    )
    parser.add_argument(
        "--progress-interval",
        type=float,
        default=5.0,
        metavar="SEC",
        help="seconds between progress lines when stderr is not a terminal (default: 5)",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def _size(text: str) -> int:
    """``"512K"``, ``"4MiB"``, ``"1048576"`` -> bytes (binary multiples)."""
    match = re.fullmatch(r"\s*(\d+)\s*([kmgt]?)(?:i?b)?\s*", text.lower())
    if not match or int(match.group(1)) < 1:
        raise argparse.ArgumentTypeError(f"not a positive size: {text!r} (e.g. 512K, 4M)")
    return int(match.group(1)) * _UNITS[match.group(2)]


def _usage_error(parser: argparse.ArgumentParser, args: argparse.Namespace) -> str | None:
    """A one-line reason why these arguments cannot work, or None."""
    if args.parts < 1:
        return f"--parts must be at least 1, not {args.parts}"
    if args.max_host_connections < 1:
        return "--max-host-connections must be at least 1"
    if not math.isfinite(args.connect_timeout) or args.connect_timeout <= 0:
        return "--connect-timeout must be a positive number of seconds"
    if args.checksum is not None:
        if len(args.urls) > 1:
            return "--checksum takes one URL"
        try:
            Checksum.parse(args.checksum)
        except ValueError as exc:
            return f"--checksum: {exc}"
    for flag, value in (("--timeout", args.timeout), ("--max-time", args.max_time)):
        if value is not None and (not math.isfinite(value) or value <= 0):
            return f"{flag} must be a positive number of seconds"
    if args.retries < 0:
        return f"--retries must be 0 or more, not {args.retries}"
    if not math.isfinite(args.progress_interval) or args.progress_interval <= 0:
        return "--progress-interval must be a positive number of seconds"
    if args.output and len(args.urls) > 1:
        return "-o/--output takes one URL; use -d/--dir for several"
    if args.output and args.dir:
        return "give either -o/--output or -d/--dir, not both"
    for url in args.urls:
        try:
            parse_origin(url)
        except DownloadError as exc:
            return str(exc)
    if args.cacert and not Path(args.cacert).is_file():
        return f"--cacert {args.cacert}: no such file"
    if args.output == "-":
        if sys.stdout.isatty():
            return "refusing to write binary data to a terminal; redirect standard output"
        return None
    if args.output and args.output.endswith(os.sep) and not Path(args.output).is_dir():
        return f"directory {args.output} does not exist"
    directory = (
        Path(args.dir) if args.dir else (Path(args.output).parent if args.output else Path.cwd())
    )
    if args.output and Path(args.output).is_dir():
        directory = Path(args.output)
    if not directory.is_dir():
        return f"directory {directory} does not exist"
    if not os.access(directory, os.W_OK | os.X_OK):
        return f"directory {directory} is not writable"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        problem = _usage_error(parser, args)
        if problem:
            print(f"curlmulti-dl: error: {problem}", file=sys.stderr)
            return EXIT_USAGE
        return asyncio.run(_run(args))
    except KeyboardInterrupt:  # before the downloads started, or after they ended
        print("curlmulti-dl: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


async def _run(args: argparse.Namespace) -> int:
    task = asyncio.current_task()
    assert task is not None
    with StopSignals(asyncio.get_running_loop(), task) as stop:
        try:
            return await _download_all(args)
        except asyncio.CancelledError:
            if stop.received is None:
                raise
    print(f"curlmulti-dl: stopped by {stop.name}; {_left_on_disk(args)}", file=sys.stderr)
    return stop.exit_status


async def _download_all(args: argparse.Namespace) -> int:
    dest: Any = 1 if args.output == "-" else (args.output or args.dir)
    display = make_display(args.quiet, args.progress_interval, args.output == "-")
    options: dict[str, Any] = {
        "connect_timeout": args.connect_timeout,
        "overwrite": args.force,
        "retry": RetryPolicy(attempts=args.retries),
        "checksum": args.checksum,
        "resume": not args.no_resume,
        "stall_timeout": args.timeout,
        "max_time": args.max_time,
    }
    if args.min_part_size is not None:
        options["min_part_size"] = options["ftp_min_part_size"] = args.min_part_size
    if args.cacert:
        options["cacert"] = args.cacert
    if args.insecure:
        options["verify_tls"] = False
    if args.ftp_ssl:
        options["ftp_tls"] = True
    failures = 0
    async with Downloader(max_host_connections=args.max_host_connections, **options) as dl:

        async def one(url: str) -> None:
            nonlocal failures
            try:
                progress = display.callback(url, _label(url, args))
                result = await dl.fetch(url, dest, parts=args.parts, progress=progress)
            except DownloadError as exc:
                failures += 1
                display.failed(url, exc)
            except Exception as exc:  # a bug of ours: still one line, never a traceback
                failures += 1
                display.failed(url, DownloadError(f"internal error: {exc!r}", url=url))
            else:
                display.finished(url, result)

        with display:
            await asyncio.gather(*(one(url) for url in args.urls))
    return EXIT_FAILED if failures else EXIT_OK


def _label(url: str, args: argparse.Namespace) -> str:
    """The name a file is shown by: where it goes, or the URL's file name."""
    if args.output == "-":
        return "stdout"
    if args.output and not args.output.endswith(os.sep) and not Path(args.output).is_dir():
        return Path(args.output).name
    return filename_from_url(url)


def _left_on_disk(args: argparse.Namespace) -> str:
    """What an interrupted run left behind, said exactly."""
    if args.output == "-":
        return "standard output got an incomplete file"
    left = []
    for url in args.urls:
        try:
            final = resolve_destination(url, args.output or args.dir, overwrite=True).path
        except DownloadError:
            continue
        part = part_path_for(final)
        if part.exists():
            left.append(str(part))
    if not left:
        return "no partial files left"
    return f"kept {', '.join(left)}; run the same command again to resume"
