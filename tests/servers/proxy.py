"""An HTTP forward proxy for tests, bound to 127.0.0.1.

Run it as a script; it prints ``PORT <n>`` once it listens and exits by
itself when its parent dies or after ``--lifetime`` seconds. It forwards
absolute-form requests (``GET http://host/path``) and tunnels ``CONNECT``
(HTTPS). ``--auth USER:PASSWORD`` wants that ``Proxy-Authorization``
(407 otherwise). ``GET /_stats`` (origin form) returns JSON: ``log``, one
record per request it was asked (method, target, whether it carried proxy
credentials), so tests can see that every request went through it.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from lifecycle import announce_and_serve
from relay import splice

HOP_BY_HOP = {"connection", "keep-alive", "proxy-authorization", "proxy-connection", "te",
              "trailer", "transfer-encoding", "upgrade"}  # fmt: skip


class Proxy(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], auth: str | None) -> None:
        super().__init__(address, Handler)
        self.auth = "Basic " + base64.b64encode(auth.encode()).decode() if auth else None
        self.lock = threading.Lock()
        self.log: list[dict[str, object]] = []

    def handle_error(self, request: object, client_address: object) -> None:
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Proxy

    def log_message(self, format: str, *args: object) -> None:
        pass

    def allowed(self) -> bool:
        given = self.headers.get("Proxy-Authorization")
        with self.server.lock:
            self.server.log.append(
                {"method": self.command, "target": self.path, "credentials": given is not None}
            )
        if self.server.auth is None or given == self.server.auth:
            return True
        self.send_response(407)
        self.send_header("Proxy-Authenticate", 'Basic realm="proxy"')
        self.send_header("Content-Length", "0")
        self.end_headers()
        return False

    def do_CONNECT(self) -> None:
        if not self.allowed():
            return
        host, _, port = self.path.rpartition(":")
        try:
            upstream = socket.create_connection((host, int(port)), timeout=10)
        except OSError:
            self.send_response(502)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200, "Connection established")
        self.end_headers()
        self.wfile.flush()
        splice(self.connection, upstream)
        self.close_connection = True

    def do_GET(self) -> None:
        self.forward()

    def do_HEAD(self) -> None:
        self.forward()

    def forward(self) -> None:
        if self.path == "/_stats":
            with self.server.lock:
                body = json.dumps({"log": list(self.server.log)}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if not self.allowed():
            return
        target = urlsplit(self.path)
        if target.scheme != "http" or not target.hostname:
            self.send_response(400)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        upstream = http.client.HTTPConnection(target.hostname, target.port or 80, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        path = target.path + (f"?{target.query}" if target.query else "")
        try:
            upstream.request(self.command, path or "/", headers=headers)
            answer = upstream.getresponse()
            self.send_response(answer.status, answer.reason)
            for name, value in answer.getheaders():
                if name.lower() not in HOP_BY_HOP:
                    self.send_header(name, value)
            if answer.getheader("Content-Length") is None:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            while self.command != "HEAD" and (data := answer.read(65536)):
                self.wfile.write(data)
        except OSError:
            self.close_connection = True
        finally:
            upstream.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--auth", metavar="USER:PASSWORD")
    parser.add_argument("--lifetime", type=float, default=1800.0)
    args = parser.parse_args()
    server = Proxy(("127.0.0.1", args.port), args.auth)
    announce_and_serve(server, args.lifetime)


if __name__ == "__main__":
    main()
