"""HTTPS against a local CA made with trustme: verification is on by default."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

import curlmulti_dl

from .conftest import DataFiles, Server, start_server, stop_server


@pytest.fixture(scope="module")
def ca_pem(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    folder = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    server_pem = folder / "server.pem"
    ca_path = folder / "ca.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(server_pem))
    ca.cert_pem.write_to_path(str(ca_path))
    yield ca_path, server_pem


@pytest.fixture(scope="module")
def https_server(data: DataFiles, ca_pem: tuple[Path, Path]) -> Iterator[Server]:
    server = start_server(
        "httpd.py", "--root", str(data.root), "--certfile", str(ca_pem[1]), scheme="https"
    )
    yield server
    stop_server(server)


@pytest.fixture(scope="module")
def ftps_server(data: DataFiles, ca_pem: tuple[Path, Path]) -> Iterator[Server]:
    server = start_server(
        "ftpd.py", "--root", str(data.root), "--certfile", str(ca_pem[1]), scheme="ftp"
    )
    yield server
    stop_server(server)


def test_ftps_verifies_and_downloads(
    ftps_server: Server, data: DataFiles, ca_pem: tuple[Path, Path], tmp_path: Path, arun
) -> None:
    url = ftps_server.url("huge.bin")
    with pytest.raises(curlmulti_dl.TLSError):
        arun(curlmulti_dl.fetch(url, tmp_path, ftp_tls=True))
    assert list(tmp_path.iterdir()) == []
    result = arun(
        curlmulti_dl.fetch(
            url, tmp_path, parts=4, ftp_tls=True, cacert=str(ca_pem[0]), ftp_min_part_size=1
        )
    )
    data.assert_same("huge.bin", result.path)
    assert result.ranges - result.splits - result.reconnects == 4


def test_untrusted_certificate_fails(https_server: Server, tmp_path: Path, arun) -> None:
    with pytest.raises(curlmulti_dl.TLSError) as info:
        arun(curlmulti_dl.fetch(https_server.url("big.bin"), tmp_path))
    assert info.value.curl_code == 60
    assert list(tmp_path.iterdir()) == []


def test_trusted_with_cacert(
    https_server: Server, data: DataFiles, ca_pem: tuple[Path, Path], tmp_path: Path, arun
) -> None:
    result = arun(
        curlmulti_dl.fetch(
            https_server.url("big.bin"), tmp_path, parts=4, cacert=str(ca_pem[0]), min_part_size=1
        )
    )
    data.assert_same("big.bin", result.path)
    assert result.ranges - result.splits == 4


def test_cli_cacert(
    https_server: Server, data: DataFiles, ca_pem: tuple[Path, Path], tmp_path: Path
) -> None:
    url = https_server.url("odd.bin")
    cmd = [sys.executable, "-m", "curlmulti_dl", "-q", "-d", str(tmp_path), url]
    refused = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1
    assert "TLS" in refused.stderr and "Traceback" not in refused.stderr
    assert list(tmp_path.iterdir()) == []
    accepted = subprocess.run(
        [*cmd[:3], "--cacert", str(ca_pem[0]), *cmd[3:]], capture_output=True, text=True, timeout=60
    )
    assert accepted.returncode == 0, accepted.stderr
    data.assert_same("odd.bin", tmp_path / "odd.bin")
