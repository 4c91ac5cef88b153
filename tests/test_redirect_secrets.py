"""Secrets stay with their origin: headers the user gave, S3 session tokens
and logins reach the server they were given for and never another one a
redirect leads to (for the redirect's request, every range after it and an
HTTP index listing); a redirect from https down to http is refused unless
allowed. Two real HTTP servers on loopback (A redirects, B serves), each
asked what it saw; every file's sha256 checked."""

from __future__ import annotations

import json
import logging
import ssl
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import trustme
from hypothesis import given
from hypothesis import strategies as st

import curlmulti_dl
from curlmulti_dl import DownloadResult
from curlmulti_dl.files.journal import decode
from curlmulti_dl.protocol.redirects import RedirectChain, redirect_target, same_origin

from .conftest import DataFiles, Server, assert_left_resumable, start_server, stop_server
from .test_resume import killed_mid_way

SECRET = "s3cret-Zq81"  # an -H value
TOKEN = "session-token-Kp27"  # an AWS_SESSION_TOKEN
USER, PASSWORD = "anna", "pw-Xy55"
KiB, MiB = 1024, 1024 * 1024
SPLIT = {"parts": 4, "min_part_size": 256 * KiB, "min_split_size": 64 * KiB}


# ------------------------------------------------------------------ servers


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A local CA (its PEM) and a certificate for 127.0.0.1 signed by it."""
    folder = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(
        str(folder / "server.pem")
    )
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    return folder / "ca.pem", folder / "server.pem"


@pytest.fixture(scope="module")
def servers(data: DataFiles, tls: tuple[Path, Path]) -> Iterator[dict[str, Server]]:
    """b serves; a redirects by query (redirect_to=); login wants a Basic
    login first; moved sends every path to b; https and https_b are TLS servers."""
    root = str(data.root)
    started: dict[str, Server] = {}
    try:
        started["b"] = start_server("httpd.py", "--root", root, scheme="http")
        started["a"] = start_server("httpd.py", "--root", root, scheme="http")
        auth = f"{USER}:{PASSWORD}"
        started["login"] = start_server("httpd.py", "--root", root, "--auth", auth, scheme="http")
        moved = ("--redirect-to", started["b"].base)
        started["moved"] = start_server("httpd.py", "--root", root, *moved, scheme="http")
        cert = ("--certfile", str(tls[1]))
        started["https"] = start_server("httpd.py", "--root", root, *cert, scheme="https")
        started["https_b"] = start_server("httpd.py", "--root", root, *cert, scheme="https")
        yield started
    finally:
        for server in started.values():
            stop_server(server)


def seen(server: Server, tag: str, cafile: Path | None = None) -> list[dict[str, Any]]:
    """The server's log records of requests whose target holds ``tag``."""
    context = ssl.create_default_context(cafile=str(cafile)) if cafile else None
    with urllib.request.urlopen(f"{server.base}/_stats", context=context) as answer:
        log = json.load(answer)["log"]
    return [record for record in log if tag in record["target"]]


def header(record: dict[str, Any], name: str) -> str | None:
    """A request header as the server saw it, whatever its case."""
    found = {k.lower(): v for k, v in record["headers"].items()}
    return found.get(name.lower())


def assert_clean(records: list[dict[str, Any]], *secrets: str) -> None:
    """None of ``secrets`` is in any header of ``records``."""
    for record in records:
        text = json.dumps(record["headers"])
        for secret in secrets:
            assert secret not in text, record


def via(a: Server, target: str, **query: Any) -> str:
    """A's URL that answers a redirect to ``target``."""
    return a.url("hop", redirect_to=quote(target, safe=""), **query)


# ------------------------------------------------------------------ the library


def test_a_header_reaches_the_origin_and_no_range_of_the_other_host(
    servers: dict[str, Server], data: DataFiles, tmp_path: Path, arun,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    a, b = servers["a"], servers["b"]
    name = data.add("secrets/split.bin", 4 * MiB + 7)
    tag = f"t={tmp_path.name}"
    target = b.url(name, t=tmp_path.name)
    with caplog.at_level(logging.DEBUG, logger="curlmulti_dl"):
        result = arun(
            curlmulti_dl.fetch(
                via(a, target, t=tmp_path.name), tmp_path / "out.bin",
                headers={"X-Token": SECRET}, **SPLIT,
            )
        )  # fmt: skip
    data.assert_same(name, result.path)
    assert result.effective_url == target
    (asked,) = seen(a, tag)
    assert header(asked, "X-Token") == SECRET
    at_b = seen(b, tag)
    assert result.connections == 4 and len(at_b) == result.ranges >= 4
    assert sorted(r["start"] for r in at_b)[0] == 0 and len({r["start"] for r in at_b}) >= 4
    assert_clean(at_b, SECRET)
    # Debug output names what stayed home, never its value.
    notes = [r.getMessage() for r in caplog.records if "another origin" in r.getMessage()]
    assert len(notes) == 1 and "X-Token" in notes[0], caplog.text
    assert SECRET not in caplog.text


def test_the_rule_is_by_origin_a_header_for_b_goes_to_b(
    servers: dict[str, Server], data: DataFiles, tmp_path: Path, arun
) -> None:
    # B's own URL, through a redirect on B itself (same origin): every request has it.
    b = servers["b"]
    name = data.add("secrets/own.bin", 2 * MiB + 3)
    tag = f"t={tmp_path.name}"
    url = b.url(name, redirect=1, t=tmp_path.name)
    result = arun(curlmulti_dl.fetch(url, tmp_path, headers={"X-Token": SECRET}, **SPLIT))
    data.assert_same(name, result.path)
    at_b = seen(b, tag)
    assert len(at_b) == result.ranges >= 4
    assert all(header(r, "X-Token") == SECRET for r in at_b)


def test_an_s3_session_token_and_signature_stay_with_the_store(
    servers: dict[str, Server], data: DataFiles, tmp_path: Path, arun,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    # The store (moved) sends the object elsewhere (b): the token from the
    # environment and the SigV4 Authorization go to the store only.
    moved, b = servers["moved"], servers["b"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-key-Rt4")
    monkeypatch.setenv("AWS_SESSION_TOKEN", TOKEN)
    name = data.add(f"bucket/{tmp_path.name}.bin", 2 * MiB + 1)
    url = f"s3://{name}"
    result = arun(curlmulti_dl.fetch(url, tmp_path, s3_endpoint=moved.base, **SPLIT))
    data.assert_same(name, result.path)
    (asked,) = seen(moved, tmp_path.name)
    assert header(asked, "x-amz-security-token") == TOKEN
    assert (header(asked, "Authorization") or "").startswith("AWS4-HMAC-SHA256")
    at_b = seen(b, tmp_path.name)
    assert len(at_b) == result.ranges >= 4
    assert_clean(at_b, TOKEN, "AKIDTEST")
    assert all(header(r, "Authorization") is None for r in at_b)


def test_a_login_never_reaches_another_host(
    servers: dict[str, Server], data: DataFiles, tmp_path: Path, arun
) -> None:
    login, b = servers["login"], servers["b"]
    name = data.add("secrets/login.bin", 2 * MiB + 5)
    tag = f"t={tmp_path.name}"
    url = via(login, b.url(name, t=tmp_path.name), t=tmp_path.name)
    result = arun(curlmulti_dl.fetch(url, tmp_path / "out.bin", auth=(USER, PASSWORD), **SPLIT))
    data.assert_same(name, result.path)
    (asked,) = seen(login, tag)
    assert (header(asked, "Authorization") or "").startswith("Basic ")
    at_b = seen(b, tag)
    assert len(at_b) == result.ranges >= 4
    assert all(header(r, "Authorization") is None for r in at_b)


def test_https_to_http_is_refused_unless_allowed(
    servers: dict[str, Server], data: DataFiles, tls: tuple[Path, Path], tmp_path: Path, arun
) -> None:
    https, b = servers["https"], servers["b"]
    name = data.add("secrets/down.bin", 1 * MiB + 9)
    refused_tag, allowed_tag = f"r={tmp_path.name}", f"ok={tmp_path.name}"
    ca = str(tls[0])
    url = via(https, b.url(name, r=tmp_path.name))
    with pytest.raises(curlmulti_dl.InsecureRedirectError) as info:
        arun(curlmulti_dl.fetch(url, tmp_path, cacert=ca, headers={"X-Token": SECRET}))
    assert "https to http" in str(info.value)
    assert list(tmp_path.iterdir()) == []  # no file, no NAME.part
    assert seen(b, refused_tag) == []
    url = via(https, b.url(name, ok=tmp_path.name))
    result = arun(curlmulti_dl.fetch(url, tmp_path, cacert=ca, allow_insecure_redirects=True))
    data.assert_same(name, result.path)
    assert len(seen(b, allowed_tag)) == result.ranges


def test_https_to_another_https_host_is_followed_without_the_header(
    servers: dict[str, Server], data: DataFiles, tls: tuple[Path, Path], tmp_path: Path, arun
) -> None:
    https, other = servers["https"], servers["https_b"]
    name = data.add("secrets/tls.bin", 1 * MiB + 13)
    tag = f"s={tmp_path.name}"
    url = via(https, other.url(name, s=tmp_path.name), s=tmp_path.name)
    options = {"cacert": str(tls[0]), "headers": {"X-Token": SECRET}, **SPLIT}
    result = arun(curlmulti_dl.fetch(url, tmp_path / "out.bin", **options))
    data.assert_same(name, result.path)
    assert header(seen(https, tag, tls[0])[0], "X-Token") == SECRET
    at_other = seen(other, tag, tls[0])
    assert len(at_other) == result.ranges >= 4
    assert_clean(at_other, SECRET)


def test_an_index_listing_redirected_elsewhere_goes_without_the_header(
    servers: dict[str, Server], data: DataFiles, tmp_path: Path, arun
) -> None:
    # moved/<dir>/ sends the page to b, and each file too; b's page links
    # the files by relative names, which stay below the asked directory.
    moved, b = servers["moved"], servers["b"]
    folder = f"listed-{tmp_path.name}"
    names = [data.add(f"{folder}/f{n}.bin", 100_000 + n) for n in range(3)]
    links = "".join(f'<a href="f{n}.bin">f{n}.bin</a>' for n in range(3))
    (data.root / folder / "index.html").write_text(f"<html><body>{links}</body></html>")

    async def run() -> list[DownloadResult]:
        async with curlmulti_dl.Downloader() as dl:
            batch = dl.fetch_many(
                [moved.url(f"{folder}/*.bin")], tmp_path, headers={"X-Token": SECRET}
            )
            async with batch:
                return [r async for r in batch]

    results = arun(run())
    assert [r.error for r in results if not r.ok] == []
    for name in names:
        data.assert_same(name, tmp_path / Path(name).name)
    at_moved = seen(moved, folder)
    assert len(at_moved) == 4 and all(header(r, "X-Token") == SECRET for r in at_moved)
    at_b = seen(b, folder)
    assert any(r["target"].endswith(f"{folder}/") for r in at_b), at_b  # the page itself
    assert len(at_b) >= 4
    assert_clean(at_b, SECRET)


# ------------------------------------------------------------------ the command


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "curlmulti_dl", "-q", *args],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_the_command_keeps_headers_home_and_refuses_https_to_http(
    servers: dict[str, Server], data: DataFiles, tls: tuple[Path, Path], tmp_path: Path
) -> None:
    a, b, https = servers["a"], servers["b"], servers["https"]
    name = data.add("secrets/cli.bin", 1 * MiB + 11)
    tag = f"c={tmp_path.name}"
    url = via(a, b.url(name, c=tmp_path.name), c=tmp_path.name)
    out = tmp_path / "out.bin"
    done = cli(
        "-H", f"X-Token: {SECRET}", "-n", "4", "--min-part-size", "256K", "-o", str(out), url
    )
    assert done.returncode == 0, done.stderr
    data.assert_same(name, out)
    assert header(seen(a, tag)[0], "X-Token") == SECRET
    at_b = seen(b, tag)
    assert len(at_b) >= 4
    assert_clean(at_b, SECRET)

    down = via(https, b.url(name, d=tmp_path.name))
    other = tmp_path / "down"
    other.mkdir()
    refused = cli("--cacert", str(tls[0]), "-d", str(other), down)
    assert refused.returncode == 1
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "https to http" in lines[0], refused.stderr
    assert "Traceback" not in refused.stderr
    assert list(other.iterdir()) == []
    allowed = cli("--cacert", str(tls[0]), "--allow-insecure-redirect", "-d", str(other), down)
    assert allowed.returncode == 0, allowed.stderr
    data.assert_same(name, other / "hop")
    # -v says what a redirect to another host did not carry: names, never values
    told = subprocess.run(
        [sys.executable, "-m", "curlmulti_dl", "-v", "-H", f"X-Token: {SECRET}",
         "-o", str(tmp_path / "told.bin"), via(a, b.url(name, e=tmp_path.name))],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert told.returncode == 0, told.stderr
    data.assert_same(name, tmp_path / "told.bin")
    [line] = [x for x in told.stderr.splitlines() if "not sending" in x]
    assert "X-Token" in line and SECRET not in told.stderr


def test_a_resumed_download_goes_on_through_the_redirect(
    servers: dict[str, Server], data: DataFiles, tmp_path: Path
) -> None:
    # The redirect's retry asks the same bytes: the second run fetches only
    # what the journal lacks, from B, with the header kept at A.
    a, b = servers["a"], servers["b"]
    name = data.add("secrets/resume.bin", 12 << 20)
    tag = f"k={tmp_path.name}"
    url = via(a, b.url(name, rate=2_000_000, k=tmp_path.name), k=tmp_path.name)
    journal = decode(killed_mid_way(url, tmp_path, "-H", f"X-Token: {SECRET}").read_bytes())
    assert_left_resumable(tmp_path, "out.bin", data.root / name)
    assert journal is not None and journal.done > 0
    before = sum(r["sent"] for r in seen(b, tag))
    again = cli("-n", "4", "-H", f"X-Token: {SECRET}", "-o", str(tmp_path / "out.bin"), url)
    assert again.returncode == 0, again.stderr
    data.assert_same(name, tmp_path / "out.bin")
    at_b = seen(b, tag)
    sent_again = sum(r["sent"] for r in at_b) - before
    assert 0 < sent_again <= (12 << 20) - journal.done + (1 << 20)
    assert_clean(at_b, SECRET)
    assert [header(r, "X-Token") for r in seen(a, tag)] == [SECRET, SECRET]


# ------------------------------------------------------------------ the pure part

_text = st.text(st.characters(codec="utf-8"), max_size=60)
_locations = st.one_of(
    _text,
    st.builds(lambda s, h, p: f"{s}://{h}{p}",
              st.sampled_from(["http", "https", "ftp", "file", ""]),
              st.sampled_from(["a.example", "b.example:8443", "[::1]", "", "x:y@h", "h:99999"]),
              _text),
)  # fmt: skip


@given(current=st.sampled_from(["http://a.example/d/f", "https://a.example:8443/f"]),
       location=_locations, allow=st.booleans())  # fmt: skip
def test_any_location_is_a_url_to_follow_or_a_typed_refusal(
    current: str, location: str, allow: bool
) -> None:
    try:
        target = redirect_target(current, location, allow_insecure=allow)
    except curlmulti_dl.InsecureRedirectError:
        assert current.startswith("https:") and not allow
        return
    except curlmulti_dl.ProtocolError:
        return
    assert target.split("://")[0] in ("http", "https")
    assert target.isascii() and not any(c.isspace() or ord(c) < 0x20 for c in target)
    assert not (current.startswith("https:") and target.startswith("http:") and not allow)
    if location.startswith("/") and not location.startswith("//"):
        assert same_origin(target, current)  # a path stays home


@given(hops=st.integers(0, 5), limit=st.integers(0, 5))
def test_a_chain_follows_at_most_its_limit(hops: int, limit: int) -> None:
    chain = RedirectChain("https://a.example/f", limit)
    try:
        for n in range(hops):
            chain.follow(f"https://b{n}.example/f")
    except curlmulti_dl.ServerError as exc:
        assert hops > limit and "redirects" in str(exc)
        assert chain.hops == limit
        return
    assert hops <= limit and chain.hops == hops
    assert chain.at_origin == (hops == 0)


def test_origins_are_scheme_host_and_port() -> None:
    assert same_origin("https://H.example/a", "https://h.example:443/b?q")
    assert same_origin("http://u:p@h/a", "http://h:80/")
    assert not same_origin("https://h/a", "http://h/a")
    assert not same_origin("http://h:8080/", "http://h/")
    assert not same_origin("http://h/", "http://h.evil/")
    assert not same_origin("http://[/", "http://[/")


def test_a_first_request_sent_again_asks_the_files_own_url_again(
    servers: dict[str, Server], data: DataFiles, tmp_path: Path
) -> None:
    # B fails once (a 500): the retry goes to A, which may send it elsewhere
    # now (a signed target that expired), not straight back to B.
    a, b = servers["a"], servers["b"]
    name = data.add("secrets/again.bin", 300 * KiB)
    tag = f"g={tmp_path.name}"
    url = via(a, b.url(name, fail_first=1, fail_status=500, g=tmp_path.name), g=tmp_path.name)
    policy = curlmulti_dl.RetryPolicy(attempts=2, backoff_factor=0.01)
    result = curlmulti_dl.download(url, tmp_path / "again.bin", retry=policy)
    data.assert_same(name, result.path)
    assert len(seen(a, tag)) == 2
