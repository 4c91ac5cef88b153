"""A SOCKS5 proxy for tests (no authentication, CONNECT only), bound to
127.0.0.1; it appends ``HOST:PORT`` to ``--log`` for every connection it
makes, and exits when its parent dies or after ``--lifetime`` seconds."""

from __future__ import annotations

import argparse
import socket
import socketserver
import struct
import threading

from lifecycle import announce_and_serve
from relay import splice


class Handler(socketserver.BaseRequestHandler):
    server: Server

    def handle(self) -> None:
        client: socket.socket = self.request
        stream = client.makefile("rb")
        version, methods = stream.read(2)
        stream.read(methods)
        client.sendall(b"\x05\x00")  # no authentication
        _, command, _, kind = stream.read(4)
        if kind == 1:
            host = socket.inet_ntoa(stream.read(4))
        elif kind == 3:
            host = stream.read(stream.read(1)[0]).decode()
        else:
            host = socket.inet_ntop(socket.AF_INET6, stream.read(16))
        (port,) = struct.unpack("!H", stream.read(2))
        if version != 5 or command != 1:
            client.sendall(b"\x05\x07\x00\x01" + bytes(6))
            return
        try:
            upstream = socket.create_connection((host, port), timeout=10)
        except OSError:
            client.sendall(b"\x05\x05\x00\x01" + bytes(6))
            return
        with self.server.lock, open(self.server.log, "a") as log:
            log.write(f"{host}:{port}\n")
        client.sendall(b"\x05\x00\x00\x01" + bytes(6))
        splice(client, upstream)


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, log: str) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.log = log
        self.lock = threading.Lock()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log", required=True)
    parser.add_argument("--lifetime", type=float, default=1200.0)
    args = parser.parse_args()
    announce_and_serve(Server(args.log), args.lifetime)


if __name__ == "__main__":
    main()
