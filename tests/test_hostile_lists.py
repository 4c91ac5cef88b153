"""Lists and listings are input: every output stays inside ``-d``, and one
bad item is one failed result, never a traceback or a stopped batch. Real
downloads from the loopback servers, every sha256 checked."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st

import curlmulti_dl
from curlmulti_dl.files.confine import output_path
from curlmulti_dl.files.names import local_name, part_path_for

from .conftest import DataFiles, Server
from .test_cli import cli, json_lines


def tree(root: Path) -> list[str]:
    """Every path below ``root`` (its files and directories), relative."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "error:" in line]


def test_a_list_cannot_write_outside_its_directory(
    http_server: Server, data: DataFiles, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    out = tmp_path / "sandbox" / "out"  # made by the command: -d need not exist
    url = http_server.url("odd.bin")
    listing = tmp_path / "list.txt"
    listing.write_text(
        "\n".join(
            [
                url,
                f"  dir={outside}",  # absolute
                url,
                "  out=../escape.bin",
                url,
                "  dir=sub/../../escape-dir",
                url,
                f"  out={outside}/abs.bin",
                http_server.url("seven.bin"),  # a good item after the bad ones
                "  dir=fine/deeper",
                http_server.url("one.bin"),
            ]
        )
        + "\n"
    )
    done = cli("-i", str(listing), "-d", str(out), "--json", "--force")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    records, summary = json_lines(done.stdout)
    assert (summary["downloaded"], summary["failed"]) == (2, 4)
    refused = [r for r in records if not r["ok"]]
    assert {r["error"]["type"] for r in refused} == {"UnsafePathError"}
    assert all(r["path"] is None for r in refused)
    assert list(outside.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["list.txt", "outside", "sandbox"]
    assert tree(out) == ["fine", "fine/deeper", "fine/deeper/seven.bin", "one.bin"]
    data.assert_same("seven.bin", out / "fine/deeper/seven.bin")
    data.assert_same("one.bin", out / "one.bin")
    assert len([line for line in done.stderr.splitlines() if "UnsafePath" in line or ".." in line])


def test_a_symbolic_link_out_of_the_directory_is_not_followed(
    http_server: Server, data: DataFiles, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    (out / "link").symlink_to(outside)
    (out / "inner").mkdir()
    (out / "ok-link").symlink_to(out / "inner")  # a link that stays inside is fine
    (out / "victim.bin").symlink_to(outside / "victim.bin")
    (outside / "victim.bin").write_bytes(b"the user's own file")

    async def main() -> list[curlmulti_dl.DownloadResult]:
        items = [
            curlmulti_dl.DownloadRequest(http_server.url("odd.bin"), dest="link/"),
            curlmulti_dl.DownloadRequest(http_server.url("odd.bin"), dest="link/x/y.bin"),
            curlmulti_dl.DownloadRequest(http_server.url("odd.bin"), dest="victim.bin"),
            curlmulti_dl.DownloadRequest(http_server.url("seven.bin"), dest="ok-link/"),
        ]
        async with (
            curlmulti_dl.Downloader() as dl,
            dl.fetch_many(items, out, overwrite=True) as batch,
        ):
            return [r async for r in batch]

    results = anyio.run(main)
    failed = [r for r in results if not r.ok]
    assert len(failed) == 3
    assert all(isinstance(r.error, curlmulti_dl.UnsafePathError) for r in failed)
    assert all("symbolic link" in str(r.error) for r in failed)
    assert sorted(p.name for p in outside.iterdir()) == ["victim.bin"]
    assert (outside / "victim.bin").read_bytes() == b"the user's own file"
    data.assert_same("seven.bin", out / "inner" / "seven.bin")


def test_fetch_many_makes_a_missing_directory(
    http_server: Server, data: DataFiles, tmp_path: Path
) -> None:
    out = tmp_path / "new" / "deeper"
    old = os.umask(0o027)
    try:
        summary = curlmulti_dl.download_many([http_server.url("odd.bin")], out)
    finally:
        os.umask(old)
    assert (summary.succeeded, summary.failed_count) == (1, 0)
    data.assert_same("odd.bin", out / "odd.bin")
    assert out.stat().st_mode & 0o777 == 0o750  # by umask, as mkdir -p


def test_directories_that_cannot_be_made_fail_their_items_only(
    http_server: Server, data: DataFiles, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "plain").write_bytes(b"a file, not a directory")
    url = http_server.url("odd.bin")
    listing = tmp_path / "list.txt"
    listing.write_text(
        f"{url}\n  dir=plain/sub\n{url}\n  dir={'d' * 300}\n{http_server.url('seven.bin')}\n"
    )
    done = cli("-i", str(listing), "-d", str(out))
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert len(error_lines(done.stderr)) == 2, done.stderr
    assert "plain" in done.stderr and "not a directory" in done.stderr
    data.assert_same("seven.bin", out / "seven.bin")
    assert (out / "plain").read_bytes() == b"a file, not a directory"
    assert tree(out) == ["plain", "seven.bin"]


@pytest.mark.parametrize(
    "first, second",
    [
        ("x", "x.part"),
        ("x", "x.part.journal"),
        ("x.part", "x"),
        ("x.part.journal", "x"),
        ("L" * 250 + ".bin", "L" * 229 + "~7e8c4f0a.part"),  # a shortened NAME.part
    ],
)
def test_a_temporary_name_of_an_item_is_claimed_too(
    http_server: Server, data: DataFiles, tmp_path: Path, first: str, second: str
) -> None:
    if "~" in second:  # the digest of the first's name, whatever it is
        second = part_path_for(tmp_path / first).name
    items = [
        curlmulti_dl.DownloadRequest(http_server.url("odd.bin"), dest=first),
        curlmulti_dl.DownloadRequest(http_server.url("seven.bin"), dest=second),
    ]
    summary = curlmulti_dl.download_many(items, tmp_path)
    assert (summary.succeeded, summary.failed_count) == (1, 1)
    [failed] = summary.failed
    assert isinstance(failed.error, curlmulti_dl.DuplicateOutputError)
    assert "temporary" in str(failed.error)
    data.assert_same("odd.bin", tmp_path / first)


def test_a_listing_with_a_bad_link_fails_only_its_item(
    http_server: Server, data: DataFiles, tmp_path: Path
) -> None:
    # An index page with a link no URL parser reads, beside good ones: the
    # page's readable links are its files, the batch goes on.
    page_dir = data.root / "hostile-index"
    page_dir.mkdir(exist_ok=True)
    data.add("hostile-index/good.bin", 1234)
    (page_dir / "index.html").write_text(
        '<a href="http://[/">bad</a> <a href="good.bin">good.bin</a>'
        '<a href="%1b%5b31mred.bin">esc</a>'
    )
    done = cli("-d", str(tmp_path), http_server.url("hostile-index/"), http_server.url("one.bin"))
    assert "Traceback" not in done.stderr
    data.assert_same("hostile-index/good.bin", tmp_path / "good.bin")
    data.assert_same("one.bin", tmp_path / "one.bin")
    # red.bin does not exist: its 404 is one failure, named without the ESC
    assert done.returncode == 1
    assert "\x1b" not in done.stderr
    assert not any("\x1b" in p for p in tree(tmp_path))


@given(st.text(min_size=1, max_size=300))
def test_a_listed_name_is_one_safe_component(name: str) -> None:
    local = local_name(name)
    assert local not in ("", ".", "..")
    assert "/" not in local
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in local)
    encoded = local.encode("utf-8", "surrogatepass")
    assert len(encoded) <= 255


@given(st.lists(st.sampled_from(["a", "b", "..", ".", "", "/", "c.bin"]), max_size=6).map("/".join))
def test_an_output_path_never_leaves_its_base(dest: str) -> None:
    base = Path("/nonexistent-base-for-a-pure-check")
    try:
        path = output_path(base, dest, "http://h/name.bin")
    except curlmulti_dl.UnsafePathError:
        assert dest.startswith("/") or ".." in Path(dest).parts
        return
    assert os.path.commonpath([base, path]) == str(base)
    assert ".." not in path.parts


@pytest.mark.parametrize("dest", ["/abs/x.bin", "../x.bin", "a/../../x.bin", "a/.."])
def test_unsafe_destinations_are_refused(dest: str) -> None:
    with pytest.raises(curlmulti_dl.UnsafePathError):
        output_path(Path("/nonexistent-base"), dest, "http://h/n.bin")


def test_names_from_a_server_are_safe_files_and_valid_json(
    crafted_ftp: Callable[..., Server], data: DataFiles, tmp_path: Path
) -> None:
    served = data.root / "names"
    served.mkdir(exist_ok=True)
    raw_name = b"raw-\x9b\xff.bin"  # not UTF-8 (and 0x9b is CSI in Latin-1)
    c1_name = "c1-\u009b31m.bin"  # CSI as a character: a file name of its own
    esc_name = "esc\x1b[31m\x07.bin"  # libcurl refuses C0 in an FTP path: one clean failure
    contents = {raw_name: os.urandom(3000), os.fsencode(c1_name): os.urandom(2000)}
    contents[os.fsencode(esc_name)] = os.urandom(500)
    contents[b"plain.bin"] = os.urandom(1000)
    for name, body in contents.items():
        (served / os.fsdecode(name)).write_bytes(body)
    facts = b"type=file;size=%d;modify=20261207000000; %s\r\n"
    mlsd = b"".join(facts % (len(body), name) for name, body in contents.items())
    mlsd += facts % (1000, b"plain.bin")  # a name given twice is one file
    server = crafted_ftp(mlsd=mlsd)
    out = tmp_path / "out"
    done = cli("-d", str(out), "--json", f"{server.base}/names/*.bin")
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and "\x1b" not in done.stderr
    [failure] = error_lines(done.stderr)
    assert "control characters" in failure
    assert "raw-\\x9b\\xff.bin" in done.stderr and "\\udc" not in done.stderr
    lines = done.stdout.encode("utf-8", "surrogateescape").decode("utf-8").splitlines()
    records = [json.loads(line) for line in lines]  # strict UTF-8, every line JSON
    summary = records.pop()["summary"]
    assert (summary["downloaded"], summary["failed"]) == (3, 1)
    written = {os.fsencode(p.name): p.read_bytes() for p in out.iterdir()}
    assert written == {
        raw_name: contents[raw_name],
        b"c1-_31m.bin": contents[os.fsencode(c1_name)],
        b"plain.bin": contents[b"plain.bin"],
    }
    [raw] = [r for r in records if "path_raw" in r]
    assert base64.b64decode(raw["path_raw"]) == os.fsencode(out) + b"/" + raw_name
    assert raw["path"].endswith("raw-\\x9b\\xff.bin")


def test_a_glob_sent_outside_fails_once_before_any_listing(
    http_server: Server, tmp_path: Path
) -> None:
    listing = tmp_path / "list.txt"
    listing.write_text(f"{http_server.url('hostile-index/')}\n  dir=../up\n")
    done = cli("-i", str(listing), "-d", str(tmp_path / "out"), "--json")
    assert done.returncode == 1
    records, summary = json_lines(done.stdout)
    assert summary["failed"] == 1
    assert [r["error"]["type"] for r in records] == ["UnsafePathError"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["list.txt"]


@pytest.mark.parametrize("separator", ["\u2028", "\x0c", "\x1c", "\x85"])
@pytest.mark.parametrize("command", ["mlsd", "listing", "nlst"])
def test_a_name_with_a_line_separator_is_one_name(
    crafted_ftp: Callable[..., Server],
    data: DataFiles,
    tmp_path: Path,
    separator: str,
    command: str,
) -> None:
    # str.splitlines() splits at these: "b<sep>.bin" was listed as "b", a
    # file the server never named (and which it serves).
    served = data.root / f"seps-{ord(separator):x}"
    served.mkdir(exist_ok=True)
    (served / "b").write_bytes(b"NOT THIS ONE")
    wanted = os.urandom(1300)
    (served / f"b{separator}.bin").write_bytes(wanted)
    text = {
        "mlsd": f"type=file;size=1300;modify=20230101000000; b{separator}.bin\r\n",
        "listing": f"-rw-r--r-- 1 0 0 1300 Jan 01  2023 b{separator}.bin\r\n",
        "nlst": f"b{separator}.bin\r\n",
    }[command]
    texts = {command: text}
    if command == "nlst":
        texts["listing"] = "a LIST in no form we read: names come from NLST\r\n"
    server = crafted_ftp(**texts, mlst=command == "mlsd")
    done = cli("-d", str(tmp_path), "--json", f"{server.base}/{served.name}/*")
    if separator < " ":  # libcurl sends no C0 control in an FTP path: one clean failure
        assert done.returncode == 1
        [line] = [x for x in done.stderr.splitlines() if "error:" in x]
        assert "control characters" in line
        assert not (tmp_path / "b").exists()
        return
    assert done.returncode == 0, done.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["b_.bin"]
    assert (tmp_path / "b_.bin").read_bytes() == wanted


def test_names_that_are_not_utf8_keep_their_bytes_from_pages_and_lists(
    http_server: Server, data: DataFiles, tmp_path: Path
) -> None:
    served = data.root / "rawidx"
    served.mkdir(exist_ok=True)
    body = os.urandom(2100)
    (served / os.fsdecode(b"nu\xff\xfe.bin")).write_bytes(body)
    (served / "index.html").write_text('<a href="nu%FF%FE.bin">nu??.bin</a>')
    listing = tmp_path / "list.txt"
    listing.write_bytes(f"{http_server.url('seven.bin')}\n  out=".encode() + b"mine-\xff.bin\n")
    out = tmp_path / "out"
    done = cli("-d", str(out), "-i", str(listing), "--json", http_server.url("rawidx/"))
    assert done.returncode == 0, done.stderr
    assert sorted(os.fsencode(p.name) for p in out.iterdir()) == [
        b"mine-\xff.bin",
        b"nu\xff\xfe.bin",
    ]
    assert (out / os.fsdecode(b"nu\xff\xfe.bin")).read_bytes() == body
    data.assert_same("seven.bin", out / os.fsdecode(b"mine-\xff.bin"))


def test_control_characters_in_a_lists_names_never_reach_a_file_name(
    http_server: Server, data: DataFiles, tmp_path: Path
) -> None:
    listing = tmp_path / "list.txt"
    listing.write_text(
        f"{http_server.url('seven.bin')}\n  dir=d\x1b[2J\n  out=a\x1b]0;x\x07b.bin\n"
    )
    out = tmp_path / "out"
    done = cli("-i", str(listing), "-d", str(out))
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stderr and "\x07" not in done.stderr
    data.assert_same("seven.bin", out / "d_[2J" / "a_]0;x_b.bin")


def test_a_users_own_journal_is_not_called_kept(http_server: Server, tmp_path: Path) -> None:
    (tmp_path / "odd.bin.part.journal").write_bytes(b"my notes, not a journal")
    done = cli("-d", str(tmp_path), http_server.url("odd.bin"))
    assert done.returncode == 1
    [line] = error_lines(done.stderr)
    assert "not made by curlmulti-dl" in line and "kept" not in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["odd.bin.part.journal"]
