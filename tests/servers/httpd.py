"""A range-capable HTTP/1.1 test server with fault modes, bound to 127.0.0.1.

Run it as a script; it prints ``PORT <n>`` once it listens, serves the files
under ``--root``, and exits by itself when its parent dies or after
``--lifetime`` seconds. Faults are chosen per request by query parameters:

    ignore_range=1      answer 200 with the whole body, whatever Range says
    no_length=1         no Content-Length, no ranges: the body ends at close
    rate=N              pace every connection at N bytes/s
    slow_every=K        every K-th connection (server-wide count) is slow ...
    slow_rate=N         ... at N bytes/s
    slow_token=T        the first connection asking with token T is slow (slow_rate)
    stall_at=N          ... and goes quiet for stall_seconds=S after N body bytes
    drop_after=N        close the connection after N body bytes
    max_conns=N         answer 503 (Retry-After: 1) while more than N connections are open
    fail_first=K        the first K requests for this path answer fail_status
                        (default 503), with Retry-After: retry_after if given
    status=NNN          answer that status with a short body
    empty=1             ... or with an empty one (Content-Length: 0), for status
                        and fail_first alike
    two_lengths=1       answer with two Content-Length headers that differ
    redirect=N          redirect N times (302) before serving
    redirect_to=URL     answer 302 with ``Location: URL`` (URL percent-encoded in the
                        query) and a short body
    change=1            the ETag changes on every request (a file that changes)
    digest=1|bad        send Repr-Digest: the file's SHA-256 (or a wrong one)
    no_validators=1     send neither ETag nor Last-Modified
    fake_total=N        state N as the file's size: the Content-Range total of a 206,
                        the Content-Length of a 200 (then the connection closes after
                        the real body); a hostile or broken server's size
    trace=1             send in chunks, noting in the log when each went out
                        (``marks``: [time, bytes sent so far]), with a small
                        send buffer, so that what the server saw can be timed

A directory URL (ending in ``/``) serves its ``index.html`` when it has one
(a test writes the page, hostile links and all).

``--auth USER:PASSWORD`` makes every file want that Basic login (401 and
``WWW-Authenticate`` otherwise). ``--redirect-to BASE`` answers every request
(after the login, if one is wanted) with a 302 to BASE followed by the
request's path and query: a whole server moved to another origin.

``GET /_stats`` returns JSON counters (connections, requests, most at once)
and ``log``: one record per body served (connection number, path and query,
first byte, bytes sent, the request's headers, when the body began and
ended on the server's monotonic clock), so tests can assert on what the
server saw; a redirect of ``redirect_to`` or ``--redirect-to`` is a record
too (``status`` 302, its ``location``, nothing sent); ``refusals``: one
record per ``fail_first`` answer (path and query, status, when).
"""

from __future__ import annotations

import argparse
import base64
import email.utils
import hashlib
import json
import socket
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from lifecycle import announce_and_serve

CHUNK = 64 * 1024


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.connections = 0
        self.requests = 0
        self.active = 0
        self.refused = 0  # 503 answers of max_conns
        self.unauthorized = 0  # 401 answers of --auth
        self.max_active = 0
        self.log: list[dict[str, object]] = []
        self.refusals: list[dict[str, object]] = []  # fail_first answers: target, status, at

    def as_dict(self) -> dict[str, object]:
        with self.lock:
            return {
                "connections": self.connections,
                "requests": self.requests,
                "active": self.active,
                "refused": self.refused,
                "unauthorized": self.unauthorized,
                "max_active": self.max_active,
                "log": [dict(record) for record in self.log[-2000:]],
                "refusals": [dict(record) for record in self.refusals[-2000:]],
            }


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        root: Path,
        auth: str | None = None,
        redirect_base: str | None = None,
    ) -> None:
        super().__init__(address, Handler)
        self.redirect_base = redirect_base
        self.root = root
        self.auth = "Basic " + base64.b64encode(auth.encode()).decode() if auth else None
        self.stats = Stats()
        self.failures: dict[str, int] = {}  # path -> requests failed on purpose (fail_first)
        self.tokens: set[str] = set()

    def handle_error(self, request: object, client_address: object) -> None:
        # Clients abort ranges on purpose (a range cut short by rebalancing).
        error = sys.exc_info()[1]
        if not isinstance(error, (ConnectionError, ssl.SSLError, TimeoutError)):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Server

    def setup(self) -> None:
        super().setup()
        stats = self.server.stats
        with stats.lock:
            stats.connections += 1
            self.connection_number = stats.connections
            stats.active += 1
            stats.max_active = max(stats.max_active, stats.active)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            with self.server.stats.lock:
                self.server.stats.active -= 1

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_HEAD(self) -> None:
        self.serve(send_body=False)

    def do_GET(self) -> None:
        self.serve(send_body=True)

    # -------------------------------------------------------------------------

    def serve(self, send_body: bool) -> None:
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        if parts.path == "/_stats":
            self.send_small(
                200, json.dumps(self.server.stats.as_dict()).encode(), "application/json"
            )
            return
        with self.server.stats.lock:
            self.server.stats.requests += 1
            request_number = self.server.stats.requests
        if self.server.auth is not None and self.headers.get("Authorization") != self.server.auth:
            with self.server.stats.lock:
                self.server.stats.unauthorized += 1
            extra = {"WWW-Authenticate": 'Basic realm="test"'}
            self.send_small(401, b"log in first\n", "text/plain", extra)
            return
        moved = query.get("redirect_to")
        if self.server.redirect_base is not None:
            moved = self.server.redirect_base + self.path
        if moved is not None:
            self.redirect_to(moved)
            return
        redirects = int(query.get("redirect", "0"))
        if redirects > 0:
            query["redirect"] = str(redirects - 1)
            if query["redirect"] == "0":
                del query["redirect"]
            target = parts.path + ("?" + urlencode(query) if query else "")
            self.send_response(302)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if query.get("two_lengths") == "1":  # an answer no HTTP client may read
            self.send_small(200, b"0123456789", "text/plain", {"Content-Length": "4"})
            return
        if "status" in query:
            body = b"" if query.get("empty") == "1" else b"error requested\n"
            self.send_small(int(query["status"]), body, "text/plain")
            return
        if "max_conns" in query:
            with self.server.stats.lock:
                busy = self.server.stats.active > int(query["max_conns"])
                if busy:
                    self.server.stats.refused += 1
            if busy:
                self.send_small(503, b"too many connections\n", "text/plain", {"Retry-After": "1"})
                self.close_connection = True
                return
        if "fail_first" in query:
            with self.server.stats.lock:
                failed = self.server.failures.get(parts.path, 0)
                self.server.failures[parts.path] = failed + 1
            if failed < int(query["fail_first"]):
                extra = {"Retry-After": query["retry_after"]} if "retry_after" in query else {}
                status = int(query.get("fail_status", "503"))
                record = {"target": self.path, "status": status, "at": time.monotonic()}
                with self.server.stats.lock:
                    self.server.stats.refusals.append(record)
                body = b"" if query.get("empty") == "1" else b"try again\n"
                self.send_small(status, body, "text/plain", extra)
                return
        path = (
            self.server.root / unquote(parts.path, errors="surrogateescape").lstrip("/")
        ).resolve()
        if parts.path.endswith("/") and (path / "index.html").is_file():
            path = path / "index.html"  # a directory's page, as it was written
        if self.server.root not in path.parents or not path.is_file():
            self.send_small(404, b"not found\n", "text/plain")
            return
        size = path.stat().st_size
        mtime = path.stat().st_mtime
        etag = f'"{size:x}-{int(mtime * 1000):x}"'
        if query.get("change") == "1":
            etag = f'"{size:x}-{request_number}"'
        last_modified = email.utils.formatdate(mtime, usegmt=True)
        validators = query.get("no_validators") != "1"

        rate = float(query["rate"]) if "rate" in query else None
        trace = query.get("trace") == "1"
        if trace:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
        slow_every = int(query.get("slow_every", "0"))
        if slow_every and self.connection_number % slow_every == 0:
            rate = float(query["slow_rate"])
        token = query.get("slow_token")
        if token is not None:
            with self.server.stats.lock:
                if token not in self.server.tokens:
                    self.server.tokens.add(token)
                    self.slow_connection = True
        stall: tuple[int, float] | None = None
        if getattr(self, "slow_connection", False):
            rate = float(query["slow_rate"])
            if "stall_at" in query:
                stall = (int(query["stall_at"]), float(query["stall_seconds"]))
        drop_after = int(query["drop_after"]) if "drop_after" in query else None

        start, end, status = 0, size, 200
        range_header = self.headers.get("Range")
        if_range = self.headers.get("If-Range")
        if if_range and if_range not in (etag, last_modified):
            range_header = None
        if query.get("ignore_range") == "1" or query.get("no_length") == "1":
            range_header = None
        if range_header:
            parsed = parse_range(range_header, size)
            if parsed is None:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            start, end = parsed
            status = 206
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Accept-Ranges", "bytes")
        if validators:
            self.send_header("ETag", etag)
            self.send_header("Last-Modified", last_modified)
        if "digest" in query:
            digest = hashlib.sha256(path.read_bytes()).digest()
            if query["digest"] == "bad":
                digest = bytes(32)
            self.send_header("Repr-Digest", f"sha-256=:{base64.b64encode(digest).decode()}:")
        fake_total = query.get("fake_total")
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{fake_total or size}")
        if fake_total is not None and status == 200:
            self.send_header("Content-Length", fake_total)
            self.send_header("Connection", "close")
            self.close_connection = True
        elif query.get("no_length") == "1":
            self.send_header("Connection", "close")
            self.close_connection = True
        else:
            self.send_header("Content-Length", str(end - start))
        self.end_headers()
        if send_body:
            record: dict[str, object] = {
                "conn": self.connection_number,
                "target": self.path,
                "start": start,
                "sent": 0,
                "headers": {name: value for name, value in self.headers.items()},
                "began": time.monotonic(),
            }
            with self.server.stats.lock:
                self.server.stats.log.append(record)
            if trace:
                record["marks"] = []
            self.send_body(path, start, end, rate, drop_after, stall, record)

    def redirect_to(self, location: str) -> None:
        """A 302 to ``location`` with a short body, logged with the request's headers."""
        now = time.monotonic()
        record: dict[str, object] = {
            "conn": self.connection_number,
            "target": self.path,
            "start": 0,
            "sent": 0,
            "headers": {name: value for name, value in self.headers.items()},
            "began": now,
            "ended": now,
            "status": 302,
            "location": location,
        }
        with self.server.stats.lock:
            self.server.stats.log.append(record)
        self.send_small(302, b"moved elsewhere\n", "text/plain", {"Location": location})

    def send_small(
        self, status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def send_body(
        self,
        path: Path,
        start: int,
        end: int,
        rate: float | None,
        drop_after: int | None,
        stall: tuple[int, float] | None = None,
        record: dict[str, object] | None = None,
    ) -> None:
        record = {} if record is None else record
        self.wfile.flush()
        limit = end - start if drop_after is None else min(end - start, drop_after)
        with open(path, "rb") as f:
            marks = record.get("marks")
            if (rate is None and stall is None and marks is None
                    and not isinstance(self.connection, ssl.SSLSocket)):  # fmt: skip
                self.connection.sendfile(f, start, limit)
                record["sent"] = limit
            else:
                f.seek(start)
                began = time.monotonic()
                sent = 0
                piece = CHUNK if rate is None else max(4096, min(CHUNK, int(rate / 50)))
                while sent < limit:
                    if stall is not None and sent + piece >= stall[0]:
                        # Send up to the mark, then go quiet like a pacing server.
                        head = max(0, stall[0] - sent)
                        self.connection.sendall(f.read(head))
                        sent += head
                        record["sent"] = sent
                        time.sleep(stall[1])
                        stall = None
                        continue
                    data = f.read(min(piece, limit - sent))
                    if not data:
                        break
                    self.connection.sendall(data)
                    sent += len(data)
                    record["sent"] = sent
                    if isinstance(marks, list):
                        marks.append([time.monotonic(), sent])
                    if rate is not None:
                        delay = began + sent / rate - time.monotonic()
                        if delay > 0:
                            time.sleep(delay)
        record["ended"] = time.monotonic()
        if drop_after is not None and drop_after < end - start:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """``bytes=a-b`` / ``bytes=a-`` / ``bytes=-n`` → [start, end), None if unsatisfiable."""
    unit, _, spec = header.partition("=")
    if unit.strip() != "bytes" or "," in spec:
        return None
    first, _, last = spec.strip().partition("-")
    if not first:
        n = int(last)
        return (max(0, size - n), size) if n > 0 and size > 0 else None
    start = int(first)
    end = min(int(last) + 1, size) if last else size
    if start >= size or end <= start:
        return None
    return start, end


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True, type=Path)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--certfile")
    parser.add_argument("--keyfile")
    parser.add_argument("--lifetime", type=float, default=1800.0)
    parser.add_argument("--auth", metavar="USER:PASSWORD")
    parser.add_argument("--redirect-to", metavar="BASE")
    args = parser.parse_args()
    server = Server(("127.0.0.1", args.port), args.root.resolve(), args.auth, args.redirect_to)
    if args.certfile:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.certfile, args.keyfile)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    announce_and_serve(server, args.lifetime)


if __name__ == "__main__":
    main()
