"""A rebuild of the tool curlmulti_dl replaces, to measure it beside the others.

    .venv/bin/python benchmarks/seed_tool.py -n 8 -o OUT URL

Written from its author's description (../shared/seed/, in Chinese), keeping
what made it what it was:

- the size from a NOBODY request (CONTENT_LENGTH_DOWNLOAD);
- ``size // n`` bytes per process, ranges ``[k*i, k*(i+1) - 1]`` and the last
  one ``[k*(n-1), size]`` (its end one past the file: the server clamps it);
- one ``multiprocessing.Process`` per range, each a blocking ``perform()``
  into a part file of its own, resumed by the part file's size (``ab`` and
  the start moved on) unless the part is longer than its range;
- progress sent by every child's XFERINFOFUNCTION through one shared Pipe,
  read by the parent in a loop that polls the pipe and the children without
  sleeping; a child that exits non-zero stops the others and fails the file;
- the part files concatenated into the output at the end, then removed.

Left out: the rich progress bar the parent drew (the numbers are summed, not
shown) and its log lines.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from multiprocessing import Pipe, Process
from multiprocessing.connection import Connection

import pycurl


class ProgressSender:
    """XFERINFOFUNCTION: sends what was downloaded since the last call."""

    def __init__(self, pipe: Connection, already: int) -> None:
        self.pipe = pipe
        self.last = already

    def __call__(self, dltotal: int, dlnow: int, ultotal: int, ulnow: int) -> None:
        if dlnow > self.last:
            self.pipe.send(dlnow - self.last)
            self.last = dlnow


def remote_size(url: str) -> int:
    curl = pycurl.Curl()
    curl.setopt(pycurl.URL, url)
    curl.setopt(pycurl.NOPROGRESS, True)
    curl.setopt(pycurl.NOBODY, 1)
    curl.perform()
    size = int(curl.getinfo(pycurl.CONTENT_LENGTH_DOWNLOAD))
    curl.close()
    return size


def download_part(url: str, part: str, start: int, end: int, pipe: Connection) -> None:
    curl = pycurl.Curl()
    curl.setopt(pycurl.URL, url)
    curl.setopt(pycurl.NOPROGRESS, False)
    downloaded = 0
    mode = "wb"
    if os.path.exists(part):
        downloaded = os.path.getsize(part)
        if downloaded <= end - start:
            mode = "ab"
            start += downloaded
        else:
            downloaded = 0
    curl.setopt(pycurl.RANGE, f"{start}-{end}")
    curl.setopt(pycurl.XFERINFOFUNCTION, ProgressSender(pipe, 0))
    with open(part, mode) as f:
        curl.setopt(pycurl.WRITEDATA, f)
        curl.perform()


def download(url: str, out: str, processes: int) -> bool:
    size = remote_size(url)
    chunk = size // processes
    parts = [f"{out}.part{i}" for i in range(processes)]
    bounds = [(chunk * i, chunk * (i + 1) - 1) for i in range(processes - 1)]
    bounds.append((chunk * (processes - 1), size))
    receiver, sender = Pipe(False)
    children = [
        Process(target=download_part, args=(url, part, start, end, sender))
        for part, (start, end) in zip(parts, bounds, strict=True)
    ]
    for child in children:
        child.start()
    received = 0
    while True:
        states = []
        for child in children:
            if receiver.poll():
                received += receiver.recv()
            if child.is_alive():
                states.append("running")
            elif child.exitcode != 0:
                states.append("failed")
            else:
                states.append("done")
        if "failed" in states:
            for child in children:
                if child.is_alive():
                    child.terminate()
            return False
        if "running" not in states:
            break
    with open(out, "wb") as whole:
        for part in parts:
            with open(part, "rb") as f:
                shutil.copyfileobj(f, whole, 1024 * 1024)
            os.remove(part)
    return True


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=6, help="processes (the original's default)")
    parser.add_argument("-o", required=True)
    parser.add_argument("url")
    args = parser.parse_args()
    try:
        return 0 if download(args.url, args.o, args.n) else 1
    except pycurl.error as error:
        print(f"seed: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
