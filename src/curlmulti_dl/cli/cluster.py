"""``--dask-scheduler ADDRESS``: the command's batch on a Dask cluster."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from typing import Any

from .._batch import DownloadRequest
from ..view.printable import printable
from .inputfile import InputFileError, InputReader
from .jsonlines import result_line, summary_line

__all__ = ["run_on_cluster"]

EXIT_OK, EXIT_FAILED = 0, 1


def _items(args: argparse.Namespace) -> Iterator[str | DownloadRequest]:
    yield from args.urls
    if args.input_file:
        reader = InputReader(args.input_file)
        with open(args.input_file, encoding="utf-8", errors="surrogateescape") as lines:
            for line in lines:
                yield from reader.feed(line)
        yield from reader.close()


def run_on_cluster(
    args: argparse.Namespace, options: dict[str, Any], limits: dict[str, Any]
) -> int:
    try:
        from ..dask import fetch_on_cluster
        from ..leases.semaphore import load_distributed

        client_class = load_distributed().Client
    except ImportError:
        print("curlmulti-dl: error: --dask-scheduler needs the dask extra "
              "(pip install 'curlmulti_dl[dask]')", file=sys.stderr)  # fmt: skip
        return EXIT_FAILED
    dest = os.path.abspath(args.dir or ".")
    try:
        client = client_class(args.dask_scheduler, timeout="10s")
    except (OSError, TimeoutError) as exc:
        print(f"curlmulti-dl: error: no Dask scheduler at {args.dask_scheduler}: {exc}",
              file=sys.stderr)  # fmt: skip
        return EXIT_FAILED
    kw = {"parts": args.parts, "skip_existing": args.skip_existing,
          "globs": not args.globoff, "depth": args.level if args.recursive else 0,
          "max_listing_entries": args.max_listing_entries}  # fmt: skip
    try:
        batch = fetch_on_cluster(client, _items(args), dest,
                                 max_host_connections=args.max_host_connections,
                                 downloader=limits, **kw, **options)  # fmt: skip
        for result in batch:
            if args.json:
                print(result_line(result), flush=True)
            elif result.error is not None:
                print(f"curlmulti-dl: {printable(str(result.error))}", file=sys.stderr, flush=True)
            elif not args.quiet:
                print(printable(f"{result.path}: {result.size} bytes"), flush=True)
    except InputFileError as exc:
        print(f"curlmulti-dl: error: {exc}", file=sys.stderr, flush=True)
        return EXIT_FAILED
    except Exception as exc:  # the cluster's or ours: one line, never a traceback
        print(f"curlmulti-dl: error: on the cluster: {exc!r}", file=sys.stderr, flush=True)
        return EXIT_FAILED
    finally:
        client.close()
    if args.json:
        print(summary_line(batch.summary), flush=True)
    elif not args.quiet:
        print(str(batch.summary), file=sys.stderr)
    return EXIT_FAILED if batch.summary.failed_count else EXIT_OK
