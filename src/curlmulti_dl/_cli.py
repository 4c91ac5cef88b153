"""The ``curlmulti-dl`` command. The only module that imports rich.

Exit codes: 0 every URL downloaded, 1 at least one failed, 2 usage error,
130 / 143 / 129 stopped by SIGINT / SIGTERM / SIGHUP.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from . import __version__
from ._destination import resolve_destination
from ._downloader import Downloader
from ._exceptions import DownloadError
from ._names import filename_from_url, parse_origin
from ._progress import DownloadResult, ProgressSnapshot
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
        "--progress-interval",
        type=float,
        default=5.0,
        metavar="SEC",
        help="seconds between progress lines when stderr is not a terminal (default: 5)",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def _usage_error(parser: argparse.ArgumentParser, args: argparse.Namespace) -> str | None:
    """A one-line reason why these arguments cannot work, or None."""
    if args.parts < 1:
        return f"--parts must be at least 1, not {args.parts}"
    if args.max_host_connections < 1:
        return "--max-host-connections must be at least 1"
    if not math.isfinite(args.connect_timeout) or args.connect_timeout <= 0:
        return "--connect-timeout must be a positive number of seconds"
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
    display = _make_display(args)
    options: dict[str, Any] = {"connect_timeout": args.connect_timeout, "overwrite": args.force}
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
                result = await dl.fetch(url, dest, parts=args.parts, progress=display.callback(url))
            except DownloadError as exc:
                failures += 1
                display.failed(url, exc)
            except Exception as exc:  # a bug of ours: still one line, never a traceback
                failures += 1
                display.failed(url, DownloadError(f"internal error: {exc!r}", url=url))
            else:
                display.finished(result)

        with display:
            await asyncio.gather(*(one(url) for url in args.urls))
    return EXIT_FAILED if failures else EXIT_OK


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
    return "partial files left: " + ", ".join(left)


# ------------------------------------------------------------------ display


def _format_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def _summary(result: DownloadResult) -> str:
    return (
        f"saved {result.path} ({_format_bytes(result.size)} in {result.elapsed:.2f} s, "
        f"{_format_bytes(result.speed)}/s, {result.connections} connections)"
    )


class _Display:
    """Plain output: periodic progress lines, for logs and cron jobs."""

    def __init__(self, quiet: bool, interval: float, stream: TextIO) -> None:
        self.quiet = quiet
        self.interval = interval
        self.stream = stream
        self._last: dict[str, float] = {}

    def __enter__(self) -> _Display:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def callback(self, url: str) -> Any:
        if self.quiet:
            return None

        def on_progress(snapshot: ProgressSnapshot) -> None:
            now = time.monotonic()
            last = self._last.get(url)
            if last is None or now - last >= self.interval:
                self._last[url] = now
                self.line(url, snapshot)

        return on_progress

    def line(self, url: str, s: ProgressSnapshot) -> None:
        total = _format_bytes(s.total) if s.total is not None else "?"
        percent = f" ({100 * s.bytes_done / s.total:.0f}%)" if s.total else ""
        eta = f", ETA {s.eta:.0f} s" if s.eta is not None else ""
        print(
            f"{filename_from_url(url)}: {_format_bytes(s.bytes_done)} / {total}{percent}, "
            f"{_format_bytes(s.speed)}/s, {s.connections} connections{eta}",
            file=self.stream,
            flush=True,
        )

    def finished(self, result: DownloadResult) -> None:
        if not self.quiet:
            print(_summary(result), file=self.stream, flush=True)

    def failed(self, url: str, exc: DownloadError) -> None:
        print(f"curlmulti-dl: error: {exc}", file=sys.stderr, flush=True)


class _RichDisplay(_Display):
    """A live rich progress display, refreshed ~10 times a second."""

    def __init__(self, quiet: bool, stream: TextIO) -> None:
        super().__init__(quiet, 0.0, stream)
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self.console = Console(file=stream)
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            DownloadColumn(binary_units=True),
            TransferSpeedColumn(),
            TextColumn("{task.fields[connections]} conn"),
            TimeRemainingColumn(),
            console=self.console,
            refresh_per_second=10,
            transient=False,
        )
        self._tasks: dict[str, Any] = {}

    def __enter__(self) -> _RichDisplay:
        self.progress.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.progress.stop()

    def callback(self, url: str) -> Any:
        task = self.progress.add_task(filename_from_url(url), total=None, connections=0)
        self._tasks[url] = task

        def on_progress(snapshot: ProgressSnapshot) -> None:
            self.progress.update(
                task,
                completed=snapshot.bytes_done,
                total=snapshot.total,
                connections=snapshot.connections,
            )

        return on_progress

    def finished(self, result: DownloadResult) -> None:
        task = self._tasks.get(result.url)
        if task is not None:
            self.progress.update(task, completed=result.size, total=result.size, connections=0)
        self.progress.console.print(_summary(result), highlight=False)

    def failed(self, url: str, exc: DownloadError) -> None:
        self.progress.console.print(f"[red]curlmulti-dl: error:[/red] {exc}", highlight=False)


def _make_display(args: argparse.Namespace) -> _Display:
    if not args.quiet and sys.stderr.isatty():
        return _RichDisplay(args.quiet, sys.stderr)
    return _Display(args.quiet, args.progress_interval, sys.stderr)
