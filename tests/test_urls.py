"""Every URL gets a clean answer: IRIs are encoded, junk is refused with
InvalidURLError, passwords never show, timeouts mean what they say."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import curlmulti_dl
from curlmulti_dl._config import milliseconds
from curlmulti_dl._redact import redact_url
from curlmulti_dl.files.names import filename_from_url
from curlmulti_dl.protocol.urls import normalize_url

from .conftest import DataFiles, Server, start_server, stop_server

SECRET = "s3cr3t-pw"


def fetch(url: str, dest: object, **options: object) -> curlmulti_dl.DownloadResult:
    return asyncio.run(curlmulti_dl.fetch(url, dest, **options))  # type: ignore[arg-type]


def with_password(url: str, user: str = "user", password: str = SECRET) -> str:
    scheme, rest = url.split("://", 1)
    return f"{scheme}://{user}:{password}@{rest}"


# ---------------------------------------------------------------- IRIs and junk


def test_non_ascii_url_downloads(http_server: Server, data: DataFiles, tmp_path: Path) -> None:
    name = data.add("café ünï.bin", 5000)
    result = fetch(f"{http_server.base}/{name}", tmp_path)
    assert result.path.name == name
    data.assert_same(name, result.path)


def test_non_ascii_ftp_url_downloads(ftp_server: Server, data: DataFiles, tmp_path: Path) -> None:
    name = data.add("données.bin", 5000)
    result = fetch(f"{ftp_server.base}/{name}", tmp_path)
    data.assert_same(name, result.path)


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1/a\x00b", "http://127.0.0.1/a\r\nX-Injected: 1", "http://127.0.0.1/\x7f"],
)
def test_control_characters_are_invalid(tmp_path: Path, url: str) -> None:
    with pytest.raises(curlmulti_dl.InvalidURLError, match="control"):
        fetch(url, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_ftp_directory_url_is_refused(ftp_server: Server, tmp_path: Path) -> None:
    with pytest.raises(curlmulti_dl.InvalidURLError, match="directory"):
        fetch(f"{ftp_server.base}/", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_examples() -> None:
    assert normalize_url("https://Bücher.example/café.bin?q=é#frag") == (
        "https://xn--bcher-kva.example/caf%C3%A9.bin?q=%C3%A9"
    )
    assert normalize_url("http://h/a%20b/c d") == "http://h/a%20b/c%20d"
    assert normalize_url("http://[::1]:8080/x") == "http://[::1]:8080/x"
    assert filename_from_url("http://h/x%FFy") == "x%FFy"
    assert filename_from_url("http://h/caf%C3%A9.bin") == "café.bin"
    assert filename_from_url("http://h/" + "a" * 300 + ".nc").endswith(".nc")


@given(st.text(max_size=80))
def test_any_path_text_normalizes_to_ascii_or_is_refused(text: str) -> None:
    try:
        url = normalize_url("http://example.org/" + text)
    except curlmulti_dl.InvalidURLError:
        return
    assert url.isascii()
    assert not any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url)
    assert normalize_url(url) == url  # idempotent


# ---------------------------------------------------------------- secrets


@given(st.text(min_size=1, max_size=20).filter(lambda p: "@" not in p and "/" not in p))
def test_redaction_hides_any_password(password: str) -> None:
    from urllib.parse import quote

    url = f"ftp://anna:{quote(password, safe='')}@host/pub/a.nc"
    shown = redact_url(url)
    assert shown == "ftp://anna:***@host/pub/a.nc"


def assert_hidden(exc: curlmulti_dl.DownloadError) -> None:
    for text in (str(exc), repr(exc), exc.url, exc.message, exc.curl_message or ""):
        assert SECRET not in text, text
    assert "user:***@" in exc.url


def test_password_hidden_in_http_errors(http_server: Server, tmp_path: Path) -> None:
    with pytest.raises(curlmulti_dl.HTTPStatusError) as info:
        fetch(with_password(http_server.url("missing.bin")), tmp_path)
    assert_hidden(info.value)
    quick = curlmulti_dl.RetryPolicy(attempts=1, backoff_factor=0.01)
    with pytest.raises(curlmulti_dl.RetriesExhaustedError) as refused:
        fetch(with_password("http://127.0.0.1:9/x.bin"), tmp_path, retry=quick)
    assert_hidden(refused.value)
    assert isinstance(refused.value.last_error, curlmulti_dl.ConnectError)
    assert_hidden(refused.value.last_error)


def test_password_hidden_in_ftp_login_failure(ftp_server: Server, tmp_path: Path) -> None:
    with pytest.raises(curlmulti_dl.FTPError) as info:
        fetch(with_password(ftp_server.url("one.bin")), tmp_path)  # wrong password: 530
    assert_hidden(info.value)


def test_password_hidden_in_tls_failure(tmp_path: Path, data: DataFiles) -> None:
    import trustme

    ca = trustme.CA()
    pem = tmp_path / "server.pem"
    ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(pem))
    args = ("--root", str(data.root), "--certfile", str(pem))
    server = start_server("httpd.py", *args, scheme="https")
    try:
        out = tmp_path / "out"
        out.mkdir()
        with pytest.raises(curlmulti_dl.TLSError) as info:
            fetch(with_password(server.url("one.bin")), out)
        assert_hidden(info.value)
        assert "cacert" in str(info.value) and "-k" in str(info.value)  # a hint, not a riddle
    finally:
        stop_server(server)


def test_password_hidden_in_results_and_progress(
    ftp_server: Server, data: DataFiles, tmp_path: Path
) -> None:
    seen: list[curlmulti_dl.ProgressSnapshot] = []
    url = with_password(ftp_server.url("big.bin"), password="secret")  # the server's real one
    result = fetch(url, tmp_path, progress=seen.append)
    data.assert_same("big.bin", result.path)
    assert "secret" not in result.url + result.effective_url
    assert seen and all("secret" not in s.url for s in seen)


def test_password_hidden_from_cli_output(http_server: Server, tmp_path: Path) -> None:
    done = subprocess.run(
        [
            *(sys.executable, "-m", "curlmulti_dl", "--progress-interval", "0.1"),
            *("-d", str(tmp_path), with_password(http_server.url("missing.bin"))),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert SECRET not in done.stderr + done.stdout
    assert "user:***@" in done.stderr


# ---------------------------------------------------------------- timeouts


@pytest.fixture
def silent_listener() -> Iterator[int]:
    """A port that accepts TCP connections (the kernel does) but never speaks."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    yield sock.getsockname()[1]
    sock.close()


def test_tiny_connect_timeout_is_not_libcurls_default(silent_listener: int, tmp_path: Path) -> None:
    assert milliseconds(0.0001) == 1 and milliseconds(2.5) == 2500
    started = time.monotonic()
    with pytest.raises(curlmulti_dl.DownloadTimeoutError):
        # An FTP server that never greets: only the connect timeout ends this
        # (0 ms would have meant libcurl's default of 300 s).
        fetch(
            f"ftp://127.0.0.1:{silent_listener}/x.bin",
            tmp_path,
            connect_timeout=0.0001,
            retry=curlmulti_dl.RetryPolicy(attempts=0),
        )
    assert time.monotonic() - started < 10
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("value", [0, -1, float("nan"), float("inf")])
def test_bad_timeouts_are_refused(tmp_path: Path, value: float) -> None:
    with pytest.raises(ValueError, match="connect_timeout") as refused:  # before any I/O
        fetch("http://127.0.0.1:9/x", tmp_path, connect_timeout=value)
    assert not isinstance(refused.value, curlmulti_dl.DownloadError)
