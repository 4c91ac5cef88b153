"""Checksums: what the user or the server says a file's digest is, and the
digest of what arrived. Parsing is pure; hashing reads a file descriptor and
runs in a worker thread, never on the event loop.

Example::

    expected = Checksum.parse("sha256:9f86d08...")
    digests_from_header("sha-256=:n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=:")
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["ALGORITHMS", "Checksum", "digests_from_header", "hash_descriptor"]

#: Algorithms accepted in ``checksum=`` (name -> hex digest length).
ALGORITHMS = {"md5": 32, "sha1": 40, "sha256": 64, "sha512": 128}
# RFC 9530 names (Repr-Digest, Content-Digest) of the algorithms worth checking.
_RFC9530 = {"sha-256": "sha256", "sha-512": "sha512"}
_MEMBER = re.compile(r"\s*([A-Za-z0-9_-]+)\s*=\s*:([A-Za-z0-9+/=]*):\s*(?:;[^,]*)?")
_CHUNK = 4 << 20


@dataclass(frozen=True)
class Checksum:
    """An expected digest: ``algorithm`` (a key of ``ALGORITHMS``), lowercase
    ``hex``, and who said so (``source``, for error messages)."""

    algorithm: str
    hex: str
    source: str = "the expected checksum"

    @classmethod
    def parse(cls, text: str) -> Checksum:
        """``"sha256:HEX"`` (also md5, sha1, sha512; case-insensitive).

        Raises ValueError with a one-line reason for anything else.
        """
        algorithm, sep, value = text.strip().partition(":")
        algorithm = algorithm.lower().replace("-", "")
        value = value.strip().lower()
        if not sep or algorithm not in ALGORITHMS:
            names = ", ".join(ALGORITHMS)
            raise ValueError(f"checksum must be ALGORITHM:HEX with ALGORITHM one of {names}")
        if len(value) != ALGORITHMS[algorithm] or not re.fullmatch(r"[0-9a-f]+", value):
            raise ValueError(
                f"a {algorithm} checksum is {ALGORITHMS[algorithm]} hexadecimal digits"
            )
        return cls(algorithm, value)


def digests_from_header(value: str, source: str = "Repr-Digest") -> list[Checksum]:
    """The SHA-256 / SHA-512 members of an RFC 9530 ``Repr-Digest`` or
    ``Content-Digest`` field value; other algorithms and malformed members
    are ignored (a digest we cannot read is no evidence either way)."""
    found = []
    for member in value.split(","):
        match = _MEMBER.fullmatch(member)
        if match is None:
            continue
        algorithm = _RFC9530.get(match.group(1).lower())
        if algorithm is None:
            continue
        try:
            raw = base64.b64decode(match.group(2), validate=True)
        except (binascii.Error, ValueError):
            continue
        if len(raw) * 2 == ALGORITHMS[algorithm]:
            found.append(Checksum(algorithm, raw.hex(), f"the server's {source}"))
    return found


def hash_descriptor(fd: int, size: int, algorithms: Iterable[str]) -> dict[str, str]:
    """Hex digests of the first ``size`` bytes of ``fd`` (read with ``pread``,
    so the descriptor's offset is untouched). Blocking: run it in a thread."""
    hashers = {name: hashlib.new(name) for name in set(algorithms)}
    offset = 0
    while offset < size:
        chunk = os.pread(fd, min(_CHUNK, size - offset), offset)
        if not chunk:
            break
        for hasher in hashers.values():
            hasher.update(chunk)
        offset += len(chunk)
    return {name: hasher.hexdigest() for name, hasher in hashers.items()}
