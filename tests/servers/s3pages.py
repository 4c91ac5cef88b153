"""A store on 127.0.0.1 that lists as many keys as it is told, without
holding them: ListObjectsV2 pages made on the fly, 1,000 keys each, for a
listing of a million keys at the cost of a counter. Every key is an object
whose body is ``body of KEY\\n`` (so a test knows its sha256).

    --keys N          keys below ``bucket/prefix/``: ``prefix/key-0000000``...
    --page N          keys per page (default 1,000, as S3 gives)
    --repeat-token    every page gives the same continuation token (a loop)
    --overlap K       each page repeats the last K keys of the page before
    --unsorted        each page lists its keys in reverse order (as stores that
                      do not sort, S3 Express's directory buckets, may)

``GET /_stats`` returns ``{"pages": n, "objects": n}``. Prints ``PORT <n>``
once it listens; exits when its parent dies or after ``--lifetime`` s.
"""

from __future__ import annotations

import argparse
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit
from xml.sax.saxutils import escape

from lifecycle import announce_and_serve

PAGE = 1000
NS = "http://s3.amazonaws.com/doc/2006-03-01/"


def key_name(number: int) -> str:
    return f"prefix/key-{number:07d}"


class Store(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, args: argparse.Namespace) -> None:
        super().__init__(("127.0.0.1", args.port), Handler)
        self.args = args
        self.lock = threading.Lock()
        self.counts = {"pages": 0, "objects": 0}

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that hangs up (a batch stopped on purpose) is no error


class Handler(BaseHTTPRequestHandler):
    server: Store
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path == "/_stats":
            with self.server.lock:
                self.reply(200, json.dumps(self.server.counts).encode(), "application/json")
            return
        if parts.path == "/bucket/" or parts.path == "/bucket":
            self.list_page({k: v[-1] for k, v in parse_qs(parts.query).items()})
            return
        key = unquote(parts.path.removeprefix("/bucket/"))
        with self.server.lock:
            self.server.counts["objects"] += 1
        self.reply(200, f"body of {key}\n".encode(), "application/octet-stream")

    def list_page(self, query: dict[str, str]) -> None:
        args = self.server.args
        with self.server.lock:
            self.server.counts["pages"] += 1
        start = int(query.get("continuation-token", "0"))
        first = max(0, start - args.overlap) if start else 0
        end = min(args.keys, start + args.page)
        contents = "".join(
            f"<Contents><Key>{escape(key_name(n))}</Key><Size>{len(key_name(n)) + 9}</Size>"
            "<LastModified>2026-12-07T00:00:00.000Z</LastModified></Contents>"
            for n in (range(end - 1, first - 1, -1) if args.unsorted else range(first, end))
        )
        more = end < args.keys
        token = "0" if args.repeat_token else str(end)
        tail = f"<NextContinuationToken>{token}</NextContinuationToken>" if more else ""
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="{NS}">'
            f"<Name>bucket</Name><Prefix>prefix/</Prefix><KeyCount>{end - first}</KeyCount>"
            f"<IsTruncated>{'true' if more else 'false'}</IsTruncated>{tail}{contents}"
            "</ListBucketResult>"
        ).encode()
        self.reply(200, body, "application/xml")

    def reply(self, status: int, body: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--lifetime", type=float, default=1800.0)
    parser.add_argument("--keys", type=int, default=PAGE)
    parser.add_argument("--page", type=int, default=PAGE)
    parser.add_argument("--repeat-token", action="store_true")
    parser.add_argument("--overlap", type=int, default=0)
    parser.add_argument("--unsorted", action="store_true")
    announce_and_serve(Store(parser.parse_args()), parser.parse_args().lifetime)


if __name__ == "__main__":
    main()
