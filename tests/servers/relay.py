"""Relaying bytes both ways between two sockets (the test proxies' tunnels)."""

from __future__ import annotations

import select
import socket


def splice(client: socket.socket, upstream: socket.socket, idle: float = 30.0) -> None:
    """Copy bytes each way until a side closes, fails or is idle ``idle``
    seconds; then close ``upstream``."""
    ends = [client, upstream]
    try:
        while True:
            readable, _, _ = select.select(ends, [], [], idle)
            if not readable:
                return
            for sock in readable:
                data = sock.recv(65536)
                if not data:
                    return
                (upstream if sock is client else client).sendall(data)
    except OSError:
        return
    finally:
        upstream.close()
