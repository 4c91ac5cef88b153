"""A local S3 (moto's server) for tests, bound to 127.0.0.1.

Run it as a script; it prints ``PORT <n>`` once it listens and exits by
itself when its parent dies or after ``--lifetime`` seconds. It takes any
request, signed or not (moto checks no signature).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from moto.server import ThreadedMotoServer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lifetime", type=float, default=1200.0)
    args = parser.parse_args()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    _, port = server.get_host_and_port()
    print(f"PORT {port}", flush=True)
    sys.stdout.close()
    parent, end = os.getppid(), time.monotonic() + args.lifetime
    while time.monotonic() < end and os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)


if __name__ == "__main__":
    main()
