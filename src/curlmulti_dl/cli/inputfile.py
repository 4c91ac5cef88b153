"""``-i FILE``: a list of downloads in aria2c's input-file form. Pure: lines
in, requests out (the command reads the lines off the loop).

A line with a URL starts an item; indented ``key=value`` lines below it set
its options: ``out=NAME`` (the file name), ``dir=DIR`` (the directory),
``checksum=ALGO=HEX`` (aria2's ``sha-256=...``; ``sha256:HEX`` too),
``header=Name: value`` (HTTP, repeatable, added to ``-H``'s). Blank
lines and lines starting with ``#`` are skipped. aria2 lists mirrors of one
file on one line, separated by tabs: the first is taken.

Example::

    https://example.org/a.nc
      out=renamed.nc
      checksum=sha-256=9f86d081884c7d65...
    ftp://ftp.example.org/pub/b.nc
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator

from .._batch import DownloadRequest

__all__ = ["InputFileError", "read_input"]

_OPTIONS = ("out", "dir", "checksum", "header")
_REPEATABLE = ("header",)
_ARIA2_ALGORITHMS = {"md5": "md5", "sha-1": "sha1", "sha-256": "sha256", "sha-512": "sha512"}


class InputFileError(ValueError):
    """A line of the input file that is not a URL, an option or a comment."""


def read_input(lines: Iterable[str], source: str = "-") -> Iterator[DownloadRequest]:
    """The requests of an input file, one as soon as its option lines are read.
    Raises ``InputFileError`` naming ``source`` and the line."""
    reader = InputReader(source)
    for line in lines:
        yield from reader.feed(line)
    yield from reader.close()


class InputReader:
    """``read_input`` a line at a time, for lines that arrive asynchronously."""

    def __init__(self, source: str = "-") -> None:
        self._source = source
        self._number = 0
        self._url: str | None = None
        self._options: dict[str, str] = {}
        self._headers: list[str] = []

    def feed(self, raw: str) -> list[DownloadRequest]:
        """One line in; the request it completes, if any, out."""
        self._number += 1
        line = raw.rstrip("\r\n")
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            return []
        where = f"{self._source} line {self._number}"
        if line[0] in " \t":
            if self._url is None:
                raise InputFileError(f"{where}: an option before any URL")
            key, sep, value = stripped.partition("=")
            key = key.strip()
            if not sep or key not in _OPTIONS:
                known = ", ".join(f"{k}=" for k in _OPTIONS)
                raise InputFileError(f"{where}: {stripped!r} is not one of {known}")
            if key in _REPEATABLE:
                self._headers.append(value.strip())
                return []
            if key in self._options:
                raise InputFileError(f"{where}: {key}= given twice")
            self._options[key] = value.strip()
            return []
        done = self.close()
        self._url, self._options = stripped.split("\t")[0].strip(), {}
        return done

    def close(self) -> list[DownloadRequest]:
        """The last item, at the end of the input."""
        if self._url is None:
            return []
        request = _request(self._url, self._options, self._headers)
        self._url, self._options, self._headers = None, {}, []
        return [request]


def _request(url: str, options: dict[str, str], headers: list[str]) -> DownloadRequest:
    name, directory = options.get("out"), options.get("dir")
    dest: str | None = None
    if directory and name:
        dest = os.path.join(directory, name)
    elif name:
        dest = name
    elif directory:
        dest = os.path.join(directory, "")  # a directory: the URL's file name in it
    extra = {"headers": tuple(headers)} if headers else {}
    return DownloadRequest(
        url, dest=dest, checksum=_checksum(options.get("checksum")), options=extra
    )


def _checksum(value: str | None) -> str | None:
    """aria2's ``sha-256=HEX`` as ``sha256:HEX``; ours passes as it is (a
    wrong one fails its item with the reason)."""
    if value is None or ":" in value:
        return value
    algorithm, sep, digest = value.partition("=")
    if sep and algorithm.lower() in _ARIA2_ALGORITHMS:
        return f"{_ARIA2_ALGORITHMS[algorithm.lower()]}:{digest}"
    return value
