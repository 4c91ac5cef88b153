"""s3:// on a local object store (moto's server on 127.0.0.1): an object in
split ranges, a glob over a prefix, a resume, a changed object; signing
from the environment seen at our own HTTP server; the ListObjectsV2 parser.
Every output's sha256 is checked."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import pytest
from hypothesis import given
from hypothesis import strategies as st

import curlmulti_dl
from curlmulti_dl import Downloader, DownloadResult
from curlmulti_dl.files.journal import decode
from curlmulti_dl.protocol.s3 import object_url, parse_list_objects

from .conftest import DataFiles, Server, start_server, stop_server

MiB = 1 << 20
BUCKET = "noaa-himawari9"
HOUR = "AHI-L1b-FLDK/2026/12/01/0000"
AWS_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


@pytest.fixture(scope="module")
def store() -> Iterator[Server]:
    server = start_server("s3d.py", scheme="http")
    _client(server).create_bucket(Bucket=BUCKET)
    yield server
    stop_server(server)


def _client(store: Server) -> Any:
    import boto3  # moto's own dependency: the uploads are signed, as a store wants

    return boto3.client("s3", endpoint_url=store.base, aws_access_key_id="test",
                        aws_secret_access_key="test", region_name="us-east-1")  # fmt: skip


@pytest.fixture(autouse=True)
def anonymous(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def put(store: Server, key: str, body: bytes) -> str:
    """Store ``body`` at ``key``, readable by anyone (as NOAA's buckets); its sha256."""
    _client(store).put_object(Bucket=BUCKET, Key=key, Body=body, ACL="public-read")
    return hashlib.sha256(body).hexdigest()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_an_object_in_split_ranges(store: Server, tmp_path: Path, arun) -> None:
    want = put(store, f"{HOUR}/FLDK_S0110.DAT", os.urandom(12 * MiB + 7))
    url = f"s3://{BUCKET}/{HOUR}/FLDK_S0110.DAT"
    result = arun(curlmulti_dl.fetch(url, tmp_path, parts=4, s3_endpoint=store.base))
    assert digest(result.path) == want and result.path.name == "FLDK_S0110.DAT"
    assert result.ranges >= 4 and result.etag  # S3's ETag keeps the ranges honest


def test_a_glob_over_a_prefix(store: Server, tmp_path: Path, arun) -> None:
    wanted = {}
    for band in ("B03", "B07", "B13"):
        for segment in (1, 2):
            name = f"HS_H09_20261201_0000_{band}_FLDK_R20_S{segment:02d}10.DAT"
            body = os.urandom(40_000 * segment + len(band))
            if band == "B13":
                wanted[name] = put(store, f"{HOUR}/{name}", body)
            else:
                put(store, f"{HOUR}/{name}", body)
    put(store, f"{HOUR}/deeper/HS_H09_B13_EXTRA.DAT", b"x" * 100)

    async def run() -> list[DownloadResult]:
        dl = Downloader(s3_endpoint=store.base)
        async with dl, dl.fetch_many([f"s3://{BUCKET}/{HOUR}/*B13*"], tmp_path) as batch:
            return [r async for r in batch]

    results = arun(run())
    assert [r.error for r in results if not r.ok] == []
    assert {r.path.name: digest(r.path) for r in results} == wanted
    assert not (tmp_path / "deeper").exists()  # a common prefix is a directory, not walked


def test_a_resume_and_a_changed_object(store: Server, tmp_path: Path, arun) -> None:
    key = f"{HOUR}/RESUMED.DAT"
    put(store, key, os.urandom(16 * MiB))
    url = f"s3://{BUCKET}/{key}"

    async def slowly() -> None:
        async with Downloader(max_bytes_per_second=4 * MiB, s3_endpoint=store.base) as dl:
            await dl.fetch(url, tmp_path, parts=2, max_time=1.0)

    with pytest.raises(curlmulti_dl.DownloadError):
        arun(slowly())
    state = decode((tmp_path / "RESUMED.DAT.part.journal").read_bytes())
    assert state is not None and 0 < state.done < 16 * MiB and state.etag
    # The same object: the rest only (the notice says what was on disk).
    result = arun(curlmulti_dl.fetch(url, tmp_path, parts=2, s3_endpoint=store.base))
    assert result.notice and "resumed" in result.notice
    result.path.unlink()
    with pytest.raises(curlmulti_dl.DownloadError):
        arun(slowly())
    changed = put(store, key, os.urandom(16 * MiB))  # a new version: a new ETag
    result = arun(curlmulti_dl.fetch(url, tmp_path, parts=2, s3_endpoint=store.base))
    assert digest(result.path) == changed
    assert result.notice and "changed" in result.notice


def test_signed_from_the_environment_and_anonymous_on_request(
    http_server: Server, data: DataFiles, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Our HTTP server as the store: it records the headers each range came with.
    name = data.add(f"{BUCKET}/signed/obj.bin", 3 * MiB)
    secret, token = "s3cr3t-Zq81-key", "tok-Zq81-session"
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "AKIDTEST", "AWS_SECRET_ACCESS_KEY": secret,
           "AWS_SESSION_TOKEN": token, "AWS_REGION": "ap-northeast-1"}  # fmt: skip
    url = f"s3://{BUCKET}/signed/obj.bin"
    command = [sys.executable, "-m", "curlmulti_dl", "--json", "-n", "3", "--min-part-size",
               "1M", "--s3-endpoint", http_server.base, "-d", str(tmp_path), url]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    data.assert_same(name, tmp_path / "obj.bin")
    for text in (done.stdout, done.stderr):
        assert secret not in text and token not in text
    with urllib.request.urlopen(f"{http_server.base}/_stats") as answer:
        log = [r for r in json.load(answer)["log"] if r["target"].endswith("/signed/obj.bin")]
    assert len(log) >= 2
    for record in log:
        auth = record["headers"]["Authorization"]
        assert auth.startswith("AWS4-HMAC-SHA256 Credential=AKIDTEST/")
        assert "/ap-northeast-1/s3/aws4_request" in auth and secret not in auth
        assert record["headers"]["x-amz-security-token"] == token
    (tmp_path / "obj.bin").unlink()
    done = subprocess.run([*command[:3], "--no-sign-request", *command[3:]], capture_output=True,
                          text=True, timeout=60, env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    with urllib.request.urlopen(f"{http_server.base}/_stats") as answer:
        log = [r for r in json.load(answer)["log"] if r["target"].endswith("/signed/obj.bin")]
    assert "Authorization" not in log[-1]["headers"]


def test_s3_urls_and_errors() -> None:
    assert object_url("s3://b/a+b/c d.nc") == "https://b.s3.amazonaws.com/a%2Bb/c%20d.nc"
    for bad in ("s3:///key", "s3://user@b/k"):
        with pytest.raises(ValueError):
            object_url(bad)


_KEY_PART = st.text(st.characters(codec="utf-8", exclude_characters="/\x00"), min_size=1,
                    max_size=12)  # fmt: skip


@given(
    files=st.lists(_KEY_PART, max_size=8, unique=True),
    dirs=st.lists(_KEY_PART, max_size=4, unique=True),
    token=st.one_of(st.none(), st.text("abcdef0123456789", min_size=1, max_size=20)),
)
def test_a_list_page_gives_the_names_below_its_prefix(
    files: list[str], dirs: list[str], token: str | None
) -> None:
    prefix = "AHI/2026/"

    def escape(key: str) -> str:  # encoding-type=url, as list_url asks
        return quote_plus(key, safe="/")

    contents = "".join(
        f"<Contents><Key>{escape(prefix + f)}</Key><Size>{n}</Size>"
        f"<LastModified>2026-12-01T00:10:20.000Z</LastModified></Contents>"
        for n, f in enumerate(files)
    )
    common = "".join(f"<CommonPrefixes><Prefix>{escape(prefix + d)}/</Prefix></CommonPrefixes>"
                     for d in dirs)  # fmt: skip
    more = f"<IsTruncated>true</IsTruncated><NextContinuationToken>{token}</NextContinuationToken>"
    body = (
        '<?xml version="1.0"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        f"<Name>b</Name><Prefix>{prefix}</Prefix><EncodingType>url</EncodingType>"
        f"{contents}{common}"
        f"{more if token else '<IsTruncated>false</IsTruncated>'}</ListBucketResult>"
    ).encode()
    entries, next_token = parse_list_objects(body, prefix)
    assert [(e.name, e.size) for e in entries if e.kind == "file"] == [
        (f, n) for n, f in enumerate(files)
    ]
    assert [e.name for e in entries if e.kind == "dir"] == dirs
    assert all(e.mtime == 1796083820 for e in entries if e.kind == "file")
    assert next_token == token
    with pytest.raises(curlmulti_dl.ProtocolError):
        parse_list_objects(b"<Error><Code>AccessDenied</Code></Error>", prefix)
