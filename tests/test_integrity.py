"""Checksums: given by the user or sent by the server, checked after the last
byte, off the event loop. Real transfers; every kept output checked by sha256."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import curlmulti_dl
from curlmulti_dl.protocol.integrity import Checksum, digests_from_header

from .conftest import DataFiles, Server
from .test_cli import assert_one_line_error, cli


def digest_of(data: DataFiles, name: str, algorithm: str = "sha256") -> str:
    return hashlib.new(algorithm, (data.root / name).read_bytes()).hexdigest()


@pytest.mark.parametrize("algorithm", ["md5", "sha1", "sha256", "sha512"])
def test_matching_checksum_keeps_the_file(
    http_server: Server, data: DataFiles, tmp_path: Path, arun, algorithm: str
) -> None:
    checksum = f"{algorithm.upper()}:{digest_of(data, 'huge.bin', algorithm)}"
    result = arun(
        curlmulti_dl.fetch(http_server.url("huge.bin"), tmp_path, parts=4, checksum=checksum)
    )
    data.assert_same("huge.bin", result.path)


@pytest.mark.parametrize("scheme", ["http", "ftp"])
def test_wrong_checksum_keeps_nothing(
    request: pytest.FixtureRequest, data: DataFiles, tmp_path: Path, arun, scheme: str
) -> None:
    server: Server = request.getfixturevalue(f"{scheme}_server")
    wrong = "sha256:" + "0" * 64
    with pytest.raises(curlmulti_dl.ChecksumMismatchError) as caught:
        arun(curlmulti_dl.fetch(server.url("big.bin"), tmp_path, parts=4, checksum=wrong))
    assert caught.value.actual == digest_of(data, "big.bin")
    assert caught.value.expected == "0" * 64 and caught.value.algorithm == "sha256"
    assert list(tmp_path.iterdir()) == []  # neither NAME nor NAME.part


def test_server_digest_is_checked(
    http_server: Server, data: DataFiles, tmp_path: Path, arun
) -> None:
    result = arun(curlmulti_dl.fetch(http_server.url("huge.bin", digest=1), tmp_path, parts=4))
    data.assert_same("huge.bin", result.path)
    with pytest.raises(curlmulti_dl.ChecksumMismatchError, match="Repr-Digest"):
        arun(curlmulti_dl.fetch(http_server.url("big.bin", digest="bad"), tmp_path, parts=4))
    assert [p.name for p in tmp_path.iterdir()] == ["huge.bin"]


def test_stream_is_hashed_as_it_is_written(
    http_server: Server, data: DataFiles, tmp_path: Path, arun
) -> None:
    target = tmp_path / "out.bin"
    right = f"sha256:{digest_of(data, 'big.bin')}"
    with open(target, "wb") as handle:  # an open descriptor: written as one stream
        arun(curlmulti_dl.fetch(http_server.url("big.bin"), handle.fileno(), checksum=right))
    data.assert_same("big.bin", target)
    with open(os.devnull, "wb") as sink, pytest.raises(curlmulti_dl.ChecksumMismatchError):
        wrong = "sha256:" + "1" * 64
        arun(curlmulti_dl.fetch(http_server.url("big.bin"), sink.fileno(), checksum=wrong))


@pytest.mark.parametrize(
    "text", ["sha256", "sha256:abc", "crc32:00000000", "sha256:" + "g" * 64, ":"]
)
def test_malformed_checksum_is_refused(
    http_server: Server, tmp_path: Path, arun, text: str
) -> None:
    with pytest.raises(ValueError, match="checksum"):  # a bad argument, before any I/O
        arun(curlmulti_dl.fetch(http_server.url("one.bin"), tmp_path, checksum=text))
    assert list(tmp_path.iterdir()) == []


def test_cli_checksum(http_server: Server, data: DataFiles, tmp_path: Path) -> None:
    url = http_server.url("big.bin")
    good = cli("-q", "--checksum", f"sha256:{digest_of(data, 'big.bin')}", "-d", str(tmp_path), url)
    assert good.returncode == 0, good.stderr
    data.assert_same("big.bin", tmp_path / "big.bin")
    (tmp_path / "again").mkdir()
    bad = cli("--checksum", "sha256:" + "0" * 64, "-d", str(tmp_path / "again"), url)
    assert bad.returncode == 1
    assert_one_line_error(bad.stderr, "sha256")
    assert list((tmp_path / "again").iterdir()) == []
    assert cli("--checksum", "md5:xyz", url).returncode == 2


@given(st.binary(max_size=64), st.sampled_from(["sha-256", "sha-512"]))
def test_repr_digest_round_trip(data: bytes, name: str) -> None:
    algorithm = name.replace("-", "")
    raw = hashlib.new(algorithm, data).digest()
    header = f"unixsum=:AAAA:, {name}=:{base64.b64encode(raw).decode()}:"
    assert digests_from_header(header) == [
        Checksum(algorithm, raw.hex(), "the server's Repr-Digest")
    ]


@given(st.text(max_size=80))
def test_any_digest_header_parses_or_is_ignored(value: str) -> None:
    for checksum in digests_from_header(value):
        assert Checksum.parse(f"{checksum.algorithm}:{checksum.hex}").hex == checksum.hex
