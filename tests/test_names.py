"""Destination names: sanitised, never outside the chosen directory."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from curlmulti_dl import InvalidURLError, StorageError
from curlmulti_dl.files.destination import resolve_destination
from curlmulti_dl.files.names import filename_from_url
from curlmulti_dl.protocol.urls import parse_origin


@given(st.text(min_size=0, max_size=300))
def test_name_from_any_segment_stays_inside(segment: str) -> None:
    name = filename_from_url("http://h/dir/" + quote(segment, safe=""))
    assert name and "/" not in name and "\x00" not in name
    assert name not in (".", "..")
    assert len(name.encode("utf-8", "surrogatepass")) <= 255
    base = Path("/tmp/dest")
    assert (base / name).resolve().parent == base.resolve()


def test_examples() -> None:
    assert filename_from_url("https://h/a/HS_H09_B13.nc?x=1#f") == "HS_H09_B13.nc"
    assert filename_from_url("https://h/") == "index.html"
    assert filename_from_url("https://h") == "index.html"
    assert filename_from_url("ftp://h/a/%2e%2e") == "download"


def test_origin() -> None:
    assert parse_origin("FTP://Example.org/x").host_key == "example.org:21"
    assert parse_origin("https://h:8443/x").host_key == "h:8443"
    for bad in ["", "h/x", "file:///etc/passwd", "http://", "http://h:99999/", "http://a b/"]:
        with pytest.raises(InvalidURLError):
            parse_origin(bad)


def test_destination(tmp_path: Path) -> None:
    assert resolve_destination("http://h/f.nc", tmp_path).path == tmp_path / "f.nc"
    assert resolve_destination("http://h/f.nc", tmp_path / "g.nc").path == tmp_path / "g.nc"
    with pytest.raises(StorageError):
        resolve_destination("http://h/f.nc", tmp_path / "missing" / "g.nc")
