"""The ``curlmulti-dl`` command (what it shows is in ``display.py``).

Exit codes: 0 every URL downloaded, 1 at least one failed, 2 usage error,
130 / 143 / 129 stopped by SIGINT / SIGTERM / SIGHUP.
"""

from __future__ import annotations

import argparse
import asyncio
import codecs
import logging
import os
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from .._batch import DownloadRequest, failed_result
from .._config import Credentials
from .._downloader import Downloader
from .._exceptions import DiskFullError, DownloadError, StorageError
from .._keywords import check_options
from .._policy import RetryPolicy
from ..engine.preconnect import until_connected
from ..files.destination import resolve_destination
from ..files.names import filename_from_url, journal_path_for, part_path_for
from ..protocol.listing import split_glob
from ..protocol.urls import normalize_url, parse_origin
from ..view.display import make_display
from ..view.printable import printable
from .args import build_parser, in_flags, usage_error
from .early import EarlyConnection
from .inputfile import InputFileError, InputReader
from .jsonlines import result_line, summary_line
from .scrub import blank_in_process_list, command_line_secrets
from .signals import StopSignals

__all__ = ["main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def main(argv: Sequence[str] | None = None, early: EarlyConnection | None = None) -> int:
    """Run the command; ``early``: a connection ``launch`` started for its URL."""
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        blank_in_process_list(command_line_secrets(args))
        problem = usage_error(parser, args) or _ask_password(args) or _options_problem(args)
        if problem:
            if not args.urls and not args.input_file:
                parser.print_usage(sys.stderr)
            print(f"curlmulti-dl: error: {problem}", file=sys.stderr)
            return EXIT_USAGE
        if early is not None and (
            args.no_preconnect or args.urls != [early.url] or args.proxy is not None
        ):
            early.sock.close()
            early = None
        if args.dask_scheduler:
            if early is not None:
                early.sock.close()
            from .cluster import run_on_cluster

            options, limits = fetch_options(args)
            return run_on_cluster(args, options, limits)
        return asyncio.run(_run(args, early))
    except KeyboardInterrupt:  # before the downloads started, or after they ended
        print("curlmulti-dl: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _options_problem(args: argparse.Namespace) -> str | None:
    """What the options' own check says of the values given (the library's
    one check, in the flags' names), or None."""
    try:
        options, limits = fetch_options(args)
        given = {"parts": args.parts, "max_host_connections": args.max_host_connections,
                 "depth": args.level, "max_listing_entries": args.max_listing_entries}  # fmt: skip
        check_options({**options, **limits, **given}, downloader=True, batch=True)
    except ValueError as exc:
        return in_flags(str(exc))
    return None


def _ask_password(args: argparse.Namespace) -> str | None:
    """``--user USER``: the password, asked on the terminal; a reason when
    there is no terminal to ask on."""
    if not args.user or ":" in args.user:
        return None
    import getpass

    try:
        with open("/dev/tty"):
            pass
    except OSError:
        return "--user without :PASSWORD asks on a terminal, and there is none; use --netrc-file"
    try:
        args.user = f"{args.user}:{getpass.getpass(f'password for {args.user}: ')}"
    except (EOFError, OSError):
        return "no password was given"
    return None


def _access_options(args: argparse.Namespace) -> dict[str, Any]:
    """Logins, headers and proxies, as ``DownloadOptions`` fields."""
    options: dict[str, Any] = {"max_redirects": args.max_redirs}
    if args.user:
        user, _, password = args.user.partition(":")
        options["auth"] = Credentials(user, password)
    if args.netrc_file:
        options["netrc"] = args.netrc_file
    elif args.netrc:
        options["netrc"] = True
    for name in ("proxy", "noproxy", "user_agent", "ssh_known_hosts", "ssh_key", "s3_endpoint"):
        if getattr(args, name) is not None:
            options[name] = getattr(args, name)
    if args.header:
        options["headers"] = tuple(args.header)
    if args.no_sign_request:
        options["s3_anonymous"] = True
    if args.allow_insecure_redirect:
        options["allow_insecure_redirects"] = True
    return options


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


def fetch_options(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    """The options of every file, and the Downloader's limits, from ``args``."""
    options: dict[str, Any] = {
        "connect_timeout": args.connect_timeout,
        "overwrite": args.force,
        "retry": RetryPolicy(attempts=args.retries, retry_wait_max=args.retry_wait_max),
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
    if args.no_preconnect:
        options["preconnect"] = False
    options.update(_access_options(args))
    limits: dict[str, Any] = {"max_connections": args.max_connections}
    if args.limit_rate is not None:
        limits["max_bytes_per_second"] = args.limit_rate
    if args.host_limit_rate is not None:
        limits["max_host_bytes_per_second"] = args.host_limit_rate
    return options, limits


class _DebugLines(logging.Handler):
    """``-v``: the library's debug lines (what a redirect did not carry), one
    ``curlmulti-dl: `` line each on the standard error of the moment (the
    live display moves it)."""

    def emit(self, record: logging.LogRecord) -> None:
        print(f"curlmulti-dl: {printable(record.getMessage())}", file=sys.stderr, flush=True)


def _show_debug_lines() -> None:
    logger = logging.getLogger("curlmulti_dl")
    logger.setLevel(logging.DEBUG)
    if not any(isinstance(h, _DebugLines) for h in logger.handlers):  # (main() run again)
        logger.addHandler(_DebugLines())


async def _download_all(args: argparse.Namespace, early: EarlyConnection | None) -> int:
    if args.verbose:
        _show_debug_lines()
    dest: Any = 1 if args.output == "-" else (args.output or args.dir)
    display = make_display(args.quiet, args.progress_interval, args.output == "-", args.verbose)
    options, limits = fetch_options(args)
    async with Downloader(
        max_host_connections=args.max_host_connections, **limits, **options
    ) as dl:
        if early is not None:
            await _hand_over(early, dl, args.connect_timeout)
        with display:
            if args.output:
                return await _download_one(dl, args, dest, display)
            return await _download_batch(dl, args, display)


async def _download_one(dl: Downloader, args: argparse.Namespace, dest: Any, display: Any) -> int:
    """``-o FILE``: one URL to one file (or a stream)."""
    url = args.urls[0]
    try:
        progress = display.callback(url, _label(url, args))
        result = await dl.fetch(url, dest, parts=args.parts, progress=progress)
    except DownloadError as exc:
        final = _final_path(url, dest)
        display.failed(url, exc, _kept(final, exc))
        result = failed_result(url, final, exc)
    except Exception as exc:  # a bug of ours: still one line, never a traceback
        error = DownloadError(f"internal error: {exc!r}", url=url)
        display.failed(url, error)
        result = failed_result(url, None, error)
    else:
        display.finished(url, result)
    if args.json:
        print(result_line(result), flush=True)
    return EXIT_OK if result.ok else EXIT_FAILED


async def _download_batch(dl: Downloader, args: argparse.Namespace, display: Any) -> int:
    """URLs and ``-i`` lists: every file on one budget, a line as each ends."""
    items = _items(args)
    kw = {
        "parts": args.parts,
        "skip_existing": args.skip_existing,
        "globs": not args.globoff,
        "depth": args.level if args.recursive else 0,
        "max_listing_entries": args.max_listing_entries,
    }
    # One file: its own progress lines, as -o shows them; else the batch's.
    one = len(args.urls) == 1 and not args.input_file
    one = one and (args.globoff or split_glob(args.urls[0]) is None)
    progress = display.callback(args.urls[0], _label(args.urls[0], args)) if one else None
    try:
        async with dl.fetch_many(
            items, args.dir, progress=progress or display.progress, **kw
        ) as batch:
            if not one:
                display.follow(batch.expected)  # the batch's total and ETA
            async for result in batch:
                shown = args.urls[0] if one else result.url
                if result.error is None:
                    display.finished(shown, result)
                else:
                    kept = _kept(result.path, result.error)
                    display.failed(shown, result.error, kept)
                if args.json:
                    print(result_line(result), flush=True)
    except InputFileError as exc:
        print(f"curlmulti-dl: error: {exc}", file=sys.stderr, flush=True)
        return EXIT_FAILED
    finally:
        if args.json:
            print(summary_line(batch.summary), flush=True)
    if batch.summary.total > 1:
        display.batch_done(str(batch.summary))
    return EXIT_FAILED if batch.summary.failed_count else EXIT_OK


async def _items(args: argparse.Namespace) -> AsyncIterator[str | DownloadRequest]:
    for url in args.urls:
        yield url
    if not args.input_file:
        return
    source = "standard input" if args.input_file == "-" else args.input_file
    reader = InputReader(source)
    async for line in _lines(args.input_file):
        for request in reader.feed(line):
            yield request
    for request in reader.close():
        yield request


async def _lines(name: str) -> AsyncIterator[str]:
    """The lines of file ``name`` (- for standard input), read in a worker
    thread a block at a time: a slow pipe never holds the event loop, and
    a list of a million lines is never in memory at once."""
    loop = asyncio.get_running_loop()
    fd = sys.stdin.fileno() if name == "-" else os.open(name, os.O_RDONLY | os.O_CLOEXEC)
    # A name that is not UTF-8 (out=, dir=, a URL) keeps its bytes.
    decoder = codecs.getincrementaldecoder("utf-8")(errors="surrogateescape")
    pending = ""
    try:
        while True:
            block = await loop.run_in_executor(None, os.read, fd, 1 << 16)
            text = pending + decoder.decode(block, final=not block)
            lines = text.split("\n")
            pending = lines.pop()
            for line in lines:
                yield line
            if not block:
                break
        if pending:
            yield pending
    finally:
        if name != "-":
            os.close(fd)


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


def _final_path(url: str, dest: Any) -> Path | None:
    """Where ``-o`` / ``-d`` puts ``url`` (None: a stream)."""
    if isinstance(dest, int):
        return None
    try:
        return resolve_destination(url, dest, overwrite=True).path
    except DownloadError:
        return None


def _kept(final: Path | None, error: DownloadError) -> str:
    """What a failed download left for the next run, said on its error line
    (not for a refusal to touch the place at all: the files there are
    another item's, another run's or the user's)."""
    refused_place = isinstance(error, StorageError) and type(error) not in (
        StorageError,
        DiskFullError,
    )
    if final is None or refused_place:
        return ""
    part = part_path_for(final)
    if not journal_path_for(part).exists():
        return ""
    return f"; kept {part} (the same command goes on from it)"


def _left_on_disk(args: argparse.Namespace) -> str:
    """What an interrupted run left behind, said exactly."""
    if args.output == "-":
        return "standard output got an incomplete file"
    left = []
    for url in args.urls:  # (a list's files are not read again here)
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
