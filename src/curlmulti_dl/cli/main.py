"""The ``curlmulti-dl`` command (what it shows is in ``display.py``).

Exit codes: 0 every URL downloaded, 1 at least one failed, 2 usage error,
130 / 143 / 129 stopped by SIGINT / SIGTERM / SIGHUP.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .._downloader import Downloader
from .._exceptions import DownloadError
from .._policy import RetryPolicy
from ..engine.preconnect import until_connected
from ..files.destination import resolve_destination
from ..files.names import filename_from_url, normalize_url, parse_origin, part_path_for
from .args import build_parser, usage_error
from .display import make_display
from .early import EarlyConnection
from .signals import StopSignals

__all__ = ["main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def main(argv: Sequence[str] | None = None, early: EarlyConnection | None = None) -> int:
    """Run the command; ``early``: a connection ``launch`` started for its URL."""
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        problem = usage_error(parser, args)
        if problem:
            print(f"curlmulti-dl: error: {problem}", file=sys.stderr)
            return EXIT_USAGE
        if early is not None and (args.no_preconnect or args.urls != [early.url]):
            early.sock.close()
            early = None
        return asyncio.run(_run(args, early))
    except KeyboardInterrupt:  # before the downloads started, or after they ended
        print("curlmulti-dl: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


async def _run(args: argparse.Namespace, early: EarlyConnection | None) -> int:
    task = asyncio.current_task()
    assert task is not None
    with StopSignals(asyncio.get_running_loop(), task) as stop:
        try:
            return await _download_all(args, early)
        except asyncio.CancelledError:
            if stop.received is None:
                raise
    print(f"curlmulti-dl: stopped by {stop.name}; {_left_on_disk(args)}", file=sys.stderr)
    return stop.exit_status


async def _download_all(args: argparse.Namespace, early: EarlyConnection | None) -> int:
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
        "ftp_file_method": args.ftp_method,
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
    if args.no_preconnect:
        options["preconnect"] = False
    async with Downloader(max_host_connections=args.max_host_connections, **options) as dl:
        if early is not None:
            await _hand_over(early, dl, args.connect_timeout)

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


async def _hand_over(early: EarlyConnection, dl: Downloader, timeout: float) -> None:
    """The early connection goes to the first request once it is connected;
    one that failed, or is not connected within its patience, is dropped
    (libcurl then connects, and reports why not)."""
    try:
        host = parse_origin(normalize_url(early.url)).host_key
    except DownloadError:
        host = None
    if host is not None and await until_connected(early.sock, min(timeout, early.patience)):
        dl.sockets.adopt(host, early.address, early.sock)
    else:
        early.sock.close()


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
