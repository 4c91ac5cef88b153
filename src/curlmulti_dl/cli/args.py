"""The command line's arguments: the parser, sizes like ``4M``, and the
one-line reason why a combination cannot work. No downloading here."""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
from pathlib import Path

from .._exceptions import DownloadError
from .._expansion import MAX_LISTING_ENTRIES
from .._policy import RetryPolicy
from .._version import __version__
from ..protocol.ftpdialect import FILE_METHODS
from ..protocol.listing import split_glob
from ..protocol.s3 import is_s3, object_url
from ..protocol.urls import parse_origin

__all__ = ["build_parser", "in_flags", "usage_error"]

_EPILOG = """\
examples:
  curlmulti-dl https://example.org/data/big.nc              8 connections into ./big.nc
  curlmulti-dl -n 16 -d /data ftp://ftp.example.org/pub/a.nc b.nc-url
  curlmulti-dl -o out.bin --cacert ca.pem https://127.0.0.1:8443/file
  curlmulti-dl -i urls.txt -d /data --max-host-connections 30 --json > done.jsonl

A file is written as NAME.part and renamed to NAME only when every byte
arrived; on failure NAME is never created, and NAME.part is kept with its
journal when the same command can go on from it (the error line says so),
else removed. An existing NAME is left alone unless --force is given. A
character device or FIFO given to -o (and -o - for standard output) is
written as one stream.

Exit status: 0 all downloaded, 1 a download failed (the others went on), 2 usage error,
130 interrupted (SIGINT, Ctrl+C), 143 terminated (SIGTERM), 129 hung up (SIGHUP).
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="curlmulti-dl",
        description="Download files over many connections at once (HTTP, HTTPS, FTP, FTPS, SFTP, "
        "S3).",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("urls", nargs="*", metavar="URL", help="what to download")
    parser.add_argument(
        "-i",
        "--input-file",
        metavar="FILE",
        help="download the URLs listed in FILE (- for standard input), one per line, "
        "each optionally followed by indented out=NAME, dir=DIR, checksum=sha-256=HEX "
        "lines (aria2c's form); read as the downloads go, so it may be very long",
    )
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
        "-v",
        "--verbose",
        action="store_true",
        help="in a batch, also each file's notes (fewer connections than -n, a resume); "
        "and debug lines (the headers and logins a redirect to another host did not carry)",
    )
    parser.add_argument(
        "-f", "--force", action="store_true", help="replace existing files (keeping their mode)"
    )
    parser.add_argument(
        "--dask-scheduler",
        metavar="ADDRESS",
        help="run the batch on the workers of this Dask cluster (tcp://host:8786), "
        "--max-host-connections shared by all of them; -d must be a directory every "
        "worker sees (pip install 'curlmulti_dl[dask]')",
    )
    parser.add_argument(
        "--max-host-connections",
        type=int,
        default=16,
        metavar="N",
        help="connections per host across all files, idle kept ones included (default: 16, "
        "polite to most servers; a host that refuses more is held to what it serves)",
    )
    parser.add_argument(
        "--max-connections",
        type=int,
        default=64,
        metavar="N",
        help="connections in all, across hosts (default: 64)",
    )
    parser.add_argument(
        "--skip-existing",
        action="store_true",
        help="skip a file that exists at its destination, without any request "
        "(default: ask the server, and skip it only if it is the remote file)",
    )
    parser.add_argument(
        "--globoff",
        action="store_true",
        help="take *, ? and [...] in URLs literally (default: a last segment with them, "
        "e.g. ftp://host/dir/*B13*, fetches the matching files of the directory, and a "
        "URL ending in / all of its files)",
    )
    parser.add_argument(
        "-r",
        "--recursive",
        action="store_true",
        help="with a directory URL or a glob, walk its subdirectories too (only below "
        "the starting URL), keeping their layout",
    )
    parser.add_argument(
        "-l",
        "--level",
        type=int,
        default=5,
        metavar="N",
        help="how many levels --recursive walks down (default: 5)",
    )
    parser.add_argument(
        "--max-listing-entries",
        type=int,
        default=MAX_LISTING_ENTRIES,
        metavar="N",
        help="the most entries the listings of one glob or directory URL may give, "
        f"walk included (default: {MAX_LISTING_ENTRIES:,}); past it, that URL fails",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object per finished file on standard output (failures "
        "with their error), then one summary object; nothing else goes to standard output",
    )
    parser.add_argument(
        "--min-part-size",
        type=_size,
        metavar="SIZE",
        help="split a file only into parts at least this large, e.g. 512K, 4M "
        "(default: 1 MiB for HTTP, 8 MiB for FTP, where every part is a login)",
    )
    access = parser.add_argument_group(
        "logins, headers and proxies",
        "Passwords given here or in URLs are blanked in the process list as the "
        "program starts, and never printed; --netrc keeps them out of the command line.",
    )
    access.add_argument(
        "-u",
        "--user",
        metavar="USER[:PASSWORD]",
        help="log in as USER (HTTP Basic, FTP, SFTP); without :PASSWORD it is asked for "
        "on the terminal",
    )
    access.add_argument(
        "--netrc", action="store_true", help="take logins from ~/.netrc (after --user and URLs)"
    )
    access.add_argument("--netrc-file", metavar="FILE", help="take logins from FILE")
    access.add_argument(
        "-H",
        "--header",
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="send this HTTP header (repeatable; in -i files: header= lines per item)",
    )
    access.add_argument("-A", "--user-agent", metavar="TEXT", help="the User-Agent header")
    access.add_argument(
        "-x",
        "--proxy",
        metavar="URL",
        help="go through this proxy: http://, https://, socks5:// or socks5h://HOST:PORT "
        "(default: the http_proxy, HTTPS_PROXY, ALL_PROXY and NO_PROXY variables; "
        '"" for none)',
    )
    access.add_argument(
        "--noproxy", metavar="HOSTS", help="comma-separated hosts reached without the proxy"
    )
    access.add_argument(
        "--max-redirs",
        type=int,
        default=10,
        metavar="N",
        help="redirects a file's first request may follow (default: 10)",
    )
    access.add_argument(
        "--allow-insecure-redirect",
        action="store_true",
        help="follow a redirect from https:// to http:// (refused by default); -H headers "
        "and logins never go to another host a redirect leads to",
    )
    access.add_argument(
        "--ssh-known-hosts",
        metavar="FILE",
        help="SFTP: the server's key must be in FILE (default: ~/.ssh/known_hosts); "
        "an unknown or changed key is an error, never accepted",
    )
    access.add_argument(
        "--ssh-key",
        metavar="FILE",
        help="SFTP: log in with this private key (default: the agent, ~/.ssh/id_rsa, "
        "then --user's password)",
    )
    access.add_argument(
        "--s3-endpoint",
        metavar="URL",
        help="s3:// URLs go to this store (MinIO, Ceph, ...) instead of AWS, the bucket "
        "as the first part of the path",
    )
    access.add_argument(
        "--no-sign-request",
        action="store_true",
        help="s3://: never sign, even with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY set "
        "(default: signed with them, anonymous without)",
    )
    parser.add_argument(
        "--limit-rate",
        type=_size,
        metavar="RATE",
        help="at most RATE bytes per second in all, e.g. 500K, 10M, shared among the "
        "running transfers",
    )
    parser.add_argument(
        "--host-limit-rate",
        type=_size,
        metavar="RATE",
        help="at most RATE bytes per second from each host (with or without --limit-rate)",
    )
    parser.add_argument("--cacert", metavar="PEM", help="trust the CA certificates in PEM")
    parser.add_argument(
        "--ftp-ssl", action="store_true", help="require TLS on ftp:// URLs (explicit FTPS)"
    )
    parser.add_argument(
        "--no-preconnect",
        action="store_true",
        help="open a connection only when a request needs it (default: an HTTP file's "
        "connections are opened while its first request is out, and the command's "
        "first one while the program loads)",
    )
    parser.add_argument(
        "--ftp-method",
        choices=FILE_METHODS,
        default="auto",
        help="how FTP names a file: auto (by its path, one CWD on servers that refuse "
        "paths), nocwd, singlecwd, multicwd (default: auto)",
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
        "--retry-wait-max",
        type=float,
        default=RetryPolicy().retry_wait_max,
        metavar="SEC",
        help="the seconds of waiting a file accepts from 429 or 503 answers with Retry-After, "
        "summed as the server asks them (such waits spend no --retries; a host busy with "
        "other files may keep it waiting longer); one asking for more fails it "
        "(default: %(default)g)",
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


def _as_https(url: str, endpoint: str | None) -> str:
    """An ``s3://`` URL as the request it makes (to check it like the others)."""
    if not is_s3(url):
        return url
    try:
        return object_url(url, endpoint)
    except ValueError as exc:
        raise DownloadError(str(exc), url=url) from None


_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def _size(text: str) -> int:
    """``"512K"``, ``"4MiB"``, ``"1048576"`` -> bytes (binary multiples)."""
    match = re.fullmatch(r"\s*(\d+)\s*([kmgt]?)(?:i?b)?\s*", text.lower())
    if not match or int(match.group(1)) < 1:
        raise argparse.ArgumentTypeError(f"not a positive size: {text!r} (e.g. 512K, 4M)")
    return int(match.group(1)) * _UNITS[match.group(2)]


# The flag that sets each option (or a policy's field): a check's words, said
# in the command's terms.
_FLAGS = {
    "parts": "--parts",
    "max_connections": "--max-connections",
    "max_host_connections": "--max-host-connections",
    "connect_timeout": "--connect-timeout",
    "stall_timeout": "--timeout",
    "max_time": "--max-time",
    "attempts": "--retries",
    "retry_wait_max": "--retry-wait-max",
    "max_redirects": "--max-redirs",
    "checksum": "--checksum",
    "min_part_size": "--min-part-size",
    "ftp_min_part_size": "--min-part-size",
    "max_bytes_per_second": "--limit-rate",
    "max_host_bytes_per_second": "--host-limit-rate",
    "max_listing_entries": "--max-listing-entries",
    "depth": "--level",
}


def in_flags(message: str) -> str:
    """An option check's message with the option named by its flag.

    >>> in_flags("stall_timeout must be a positive number of seconds, not -1")
    '--timeout must be a positive number of seconds, not -1'
    """
    name, space, rest = message.partition(" ")
    flag = _FLAGS.get(name)
    return f"{flag} {rest}" if flag and space else message


def usage_error(parser: argparse.ArgumentParser, args: argparse.Namespace) -> str | None:
    """A one-line reason why these arguments cannot work, or None. (The
    options' own values are checked where they are made: ``check_options``.)"""
    if not args.urls and not args.input_file:
        return "give a URL, or -i FILE with a list of them"
    if args.dask_scheduler and args.output:
        return "--dask-scheduler runs batches: give -d DIR, not -o"
    if args.dask_scheduler and args.input_file == "-":
        return "--dask-scheduler reads -i from a file, not standard input"
    if args.input_file and args.input_file != "-" and not Path(args.input_file).is_file():
        return f"-i {args.input_file}: no such file"
    if args.checksum is not None and (len(args.urls) > 1 or args.input_file):
        return "--checksum takes one URL (in a list, give each its checksum= line)"
    if not math.isfinite(args.progress_interval) or args.progress_interval <= 0:
        return "--progress-interval must be a positive number of seconds"
    if args.output and (len(args.urls) > 1 or args.input_file):
        return "-o/--output takes one URL; use -d/--dir for several"
    if args.output == "-" and args.json:
        return "--json writes standard output: give -o a file"
    if args.output and args.dir:
        return "give either -o/--output or -d/--dir, not both"
    for url in args.urls:
        many = not args.globoff and split_glob(url) is not None  # a glob or a directory
        try:
            parse_origin(_as_https(url, args.s3_endpoint), directory=many)
        except DownloadError as exc:
            return str(exc)
        if args.output and many:
            return "-o/--output takes one file, and this URL names many: use -d, or --globoff"
    files = {"--netrc-file": args.netrc_file, "--ssh-known-hosts": args.ssh_known_hosts,
             "--ssh-key": args.ssh_key}  # fmt: skip
    for flag, name in files.items():
        if name and not Path(name).is_file():
            return f"{flag} {name}: no such file"
    if args.cacert and not Path(args.cacert).is_file():
        return f"--cacert {args.cacert}: no such file"
    if args.output == "-":
        if sys.stdout.isatty():
            return "refusing to write binary data to a terminal; redirect standard output"
        return None
    if args.output and args.output.endswith(os.sep) and not Path(args.output).is_dir():
        return f"directory {args.output} does not exist"
    if args.dir is not None:
        return _batch_directory_problem(Path(args.dir))
    directory = Path(args.output).parent if args.output else Path.cwd()
    if args.output and Path(args.output).is_dir():
        directory = Path(args.output)
    if not directory.is_dir():
        return f"directory {directory} does not exist"
    if not os.access(directory, os.W_OK | os.X_OK):
        return f"directory {directory} is not writable"
    return None


def _batch_directory_problem(directory: Path) -> str | None:
    """``-d DIR`` is made when missing (as wget -P and aria2c -d do); what
    stands there, or above it, must let it be a writable directory."""
    existing = directory
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing == directory and not directory.is_dir():
        return f"{directory} is not a directory"
    if not existing.is_dir():
        return f"cannot make directory {directory}: {existing} is not a directory"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"directory {existing} is not writable"
    return None
