"""What a download may do to the file system: per kind of target, NAME.part
safety, overwriting, long names. Nodes are made in temporary directories only."""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import hashlib
import os
import stat
import threading
from pathlib import Path

import pytest

import curlmulti_dl
from curlmulti_dl import Downloader
from curlmulti_dl.files.names import part_path_for

from .conftest import FILES, DataFiles, Server

NULL_DEVICE = os.makedev(1, 3)  # /dev/null's numbers, on a node of our own


def fetch(url: str, dest: object, **options: object) -> curlmulti_dl.DownloadResult:
    return asyncio.run(curlmulti_dl.fetch(url, dest, **options))  # type: ignore[arg-type]


# ---------------------------------------------------------------- kinds of target


def test_character_device_is_written_as_a_stream_not_replaced(
    http_server: Server, tmp_path: Path
) -> None:
    node = tmp_path / "null"
    os.mknod(node, 0o666 | stat.S_IFCHR, NULL_DEVICE)
    result = fetch(http_server.url("huge.bin"), node, parts=8)
    assert result.size == FILES["huge.bin"]
    assert result.connections == 1 and result.notice and "stream" in result.notice
    info = os.lstat(node)
    assert stat.S_ISCHR(info.st_mode) and info.st_rdev == NULL_DEVICE
    assert sorted(p.name for p in tmp_path.iterdir()) == ["null"]


def test_fifo_gets_the_bytes_in_order(http_server: Server, data: DataFiles, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    digest = hashlib.sha256()

    def reader() -> None:
        with open(fifo, "rb") as f:
            while chunk := f.read(1 << 16):
                digest.update(chunk)

    thread = threading.Thread(target=reader)
    thread.start()
    result = fetch(http_server.url("huge.bin"), fifo, parts=8)
    thread.join(10)
    assert digest.hexdigest() == data.digests["huge.bin"]
    assert result.size == FILES["huge.bin"]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_open_descriptor_is_a_stream(http_server: Server, data: DataFiles, tmp_path: Path) -> None:
    out = tmp_path / "out.bin"
    with open(out, "wb") as f:
        result = fetch(http_server.url("big.bin"), f.fileno(), parts=4)
        assert not f.closed
    data.assert_same("big.bin", out)
    assert result.size == FILES["big.bin"]


def test_symlink_is_followed_and_stays_a_link(
    http_server: Server, data: DataFiles, tmp_path: Path
) -> None:
    target = tmp_path / "real.bin"
    link = tmp_path / "link.bin"
    link.symlink_to("real.bin")  # dangling: the target is created
    fetch(http_server.url("odd.bin"), link)
    assert link.is_symlink() and os.readlink(link) == "real.bin"
    data.assert_same("odd.bin", target)
    with pytest.raises(curlmulti_dl.DestinationExistsError):
        fetch(http_server.url("big.bin"), link)  # now it points at an existing file
    fetch(http_server.url("big.bin"), link, overwrite=True)
    assert link.is_symlink()
    data.assert_same("big.bin", target)


def test_symlink_to_a_device_writes_into_the_device(http_server: Server, tmp_path: Path) -> None:
    node = tmp_path / "null"
    os.mknod(node, 0o666 | stat.S_IFCHR, NULL_DEVICE)
    (tmp_path / "out").symlink_to(node)
    fetch(http_server.url("big.bin"), tmp_path / "out")
    assert (tmp_path / "out").is_symlink() and stat.S_ISCHR(os.lstat(node).st_mode)


def test_block_device_is_refused(http_server: Server, tmp_path: Path) -> None:
    node = tmp_path / "disk"
    os.mknod(node, 0o600 | stat.S_IFBLK, os.makedev(7, 250))
    with pytest.raises(curlmulti_dl.StorageError, match="block device"):
        fetch(http_server.url("one.bin"), node)
    assert stat.S_ISBLK(os.lstat(node).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["disk"]


def test_foreign_symlink_in_sticky_shared_directory_is_refused(
    http_server: Server, tmp_path: Path
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep me")
    link = shared / "out.bin"
    link.symlink_to(victim)
    os.lchown(link, 65534, 65534)  # planted by "nobody"
    with pytest.raises(curlmulti_dl.StorageError, match="another user"):
        fetch(http_server.url("one.bin"), link, overwrite=True)
    assert victim.read_bytes() == b"keep me"


# ---------------------------------------------------------------- NAME.part safety


@pytest.mark.parametrize("status", [None, 404])
def test_symlink_planted_at_part_is_never_followed(
    http_server: Server, tmp_path: Path, status: int | None
) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    (tmp_path / "out.bin.part").symlink_to(victim)
    url = http_server.url("big.bin", **({"status": status} if status else {}))
    with pytest.raises(curlmulti_dl.StorageError, match="symbolic link"):
        fetch(url, tmp_path / "out.bin")
    assert victim.read_bytes() == b"precious"
    assert (tmp_path / "out.bin.part").is_symlink()
    assert not (tmp_path / "out.bin").exists()


def test_part_owned_by_another_user_is_left_alone(http_server: Server, tmp_path: Path) -> None:
    part = tmp_path / "out.bin.part"
    part.write_bytes(b"theirs")
    os.chown(part, 65534, 65534)
    with pytest.raises(curlmulti_dl.StorageError, match="another user"):
        fetch(http_server.url("big.bin"), tmp_path / "out.bin")
    assert part.read_bytes() == b"theirs"


def test_hard_linked_part_is_left_alone(http_server: Server, tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    os.link(victim, tmp_path / "out.bin.part")
    with pytest.raises(curlmulti_dl.StorageError, match="hard links"):
        fetch(http_server.url("big.bin"), tmp_path / "out.bin")
    assert victim.read_bytes() == b"precious"


def test_leftover_part_of_our_own_is_reused(
    http_server: Server, data: DataFiles, tmp_path: Path
) -> None:
    part = tmp_path / "out.bin.part"
    part.write_bytes(b"x" * 100)
    os.setxattr(part, "user.curlmulti_dl.part", b"1")  # as a run of ours leaves it
    fetch(http_server.url("big.bin"), tmp_path / "out.bin")
    data.assert_same("big.bin", tmp_path / "out.bin")
    assert not part.exists()
    assert "user.curlmulti_dl.part" not in os.listxattr(tmp_path / "out.bin")


@pytest.mark.parametrize("left", ["out.bin.part", "out.bin.part.journal", "both"])
def test_a_users_own_part_or_journal_is_never_touched(
    http_server: Server, data: DataFiles, tmp_path: Path, left: str
) -> None:
    names = ["out.bin.part", "out.bin.part.journal"] if left == "both" else [left]
    for name in names:
        (tmp_path / name).write_bytes(b"the user's own " + name.encode())
    with pytest.raises(curlmulti_dl.ForeignFileError, match="not made by curlmulti-dl"):
        fetch(http_server.url("big.bin"), tmp_path / "out.bin")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names)
    for name in names:
        assert (tmp_path / name).read_bytes() == b"the user's own " + name.encode()
    # ... and in a batch, that item alone fails; the others are downloaded
    summary = curlmulti_dl.download_many(
        [
            curlmulti_dl.DownloadRequest(http_server.url("big.bin"), dest="out.bin"),
            http_server.url("odd.bin"),
        ],
        tmp_path,
    )
    assert (summary.succeeded, summary.failed_count) == (1, 1)
    assert isinstance(summary.failed[0].error, curlmulti_dl.ForeignFileError)
    data.assert_same("odd.bin", tmp_path / "odd.bin")
    for name in names:
        assert (tmp_path / name).read_bytes() == b"the user's own " + name.encode()


# ---------------------------------------------------------------- existing files


def test_existing_file_is_refused_without_overwrite(http_server: Server, tmp_path: Path) -> None:
    target = tmp_path / "big.bin"
    target.write_bytes(b"mine")
    before = http_stats_requests(http_server)
    with pytest.raises(curlmulti_dl.DestinationExistsError, match="already exists"):
        fetch(http_server.url("big.bin"), tmp_path)
    assert target.read_bytes() == b"mine"
    # One request: its answer shows the file there is not the remote one.
    assert http_stats_requests(http_server) == before + 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.bin"]


@pytest.mark.parametrize("scheme", ["http", "ftp"])
def test_complete_file_is_skipped(
    request: pytest.FixtureRequest, data: DataFiles, tmp_path: Path, scheme: str
) -> None:
    server: Server = request.getfixturevalue(f"{scheme}_server")
    first = fetch(server.url("big.bin"), tmp_path, parts=4)
    data.assert_same("big.bin", first.path)
    # Stamped like curl -R: the remote date (and the ETag where xattrs work).
    remote = email.utils.parsedate_to_datetime(first.last_modified or "").timestamp()
    assert abs(first.path.stat().st_mtime - remote) < 1
    again = fetch(server.url("big.bin"), tmp_path, parts=4)
    assert again.skipped and again.notice == "already complete: skipped"
    data.assert_same("big.bin", again.path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.bin"]
    # A file of the same size but another date (and no ETag stamp) is not
    # taken for the remote one.
    os.utime(first.path, (0, 0))
    with contextlib.suppress(OSError):
        os.removexattr(first.path, "user.curlmulti_dl.etag")
    with pytest.raises(curlmulti_dl.DestinationExistsError):
        fetch(server.url("big.bin"), tmp_path, parts=4)
    assert fetch(server.url("big.bin"), tmp_path, overwrite=True).skipped is False


def test_overwrite_keeps_mode_and_hard_links(
    http_server: Server, data: DataFiles, tmp_path: Path
) -> None:
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    target.chmod(0o600)
    other = tmp_path / "other-name.bin"
    os.link(target, other)
    inode = target.stat().st_ino
    fetch(http_server.url("big.bin"), target, overwrite=True)
    data.assert_same("big.bin", target)
    data.assert_same("big.bin", other)  # the other link sees the new content
    assert target.stat().st_ino == inode
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert not part_path_for(target).exists()


def test_overwrite_single_link_keeps_mode(
    http_server: Server, data: DataFiles, tmp_path: Path
) -> None:
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    target.chmod(0o640)
    fetch(http_server.url("odd.bin"), target, overwrite=True)
    data.assert_same("odd.bin", target)
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


def test_file_appearing_during_download_is_not_replaced(
    http_server: Server, data: DataFiles, tmp_path: Path
) -> None:
    target = tmp_path / "out.bin"
    url = http_server.url("huge.bin", rate=16_000_000)

    async def scenario() -> None:
        async with Downloader() as dl:
            task = asyncio.create_task(dl.fetch(url, target, parts=4))
            while not part_path_for(target).exists():
                await asyncio.sleep(0.02)
            target.write_bytes(b"written meanwhile")
            with pytest.raises(curlmulti_dl.DestinationExistsError, match="appeared"):
                await task

    asyncio.run(scenario())
    assert target.read_bytes() == b"written meanwhile"
    data.assert_same("huge.bin", part_path_for(target))  # the download is kept, complete


# ---------------------------------------------------------------- long names


def test_longest_url_name_is_shortened_to_fit_part(
    http_server: Server, data: DataFiles, tmp_path: Path
) -> None:
    name = data.add("n" * 247 + ".bin", 1000)  # 251 bytes: NAME.part would be 256
    result = fetch(http_server.url(name), tmp_path)
    assert result.path.suffix == ".bin"
    assert len(result.path.name.encode()) + len(".part") <= 255
    data.assert_same(name, result.path)


def test_explicit_255_byte_name_works(http_server: Server, data: DataFiles, tmp_path: Path) -> None:
    target = tmp_path / ("x" * 251 + ".bin")
    result = fetch(http_server.url("odd.bin"), target)
    assert result.path == target
    data.assert_same("odd.bin", target)
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]


def http_stats_requests(server: Server) -> int:
    import json
    import urllib.request

    with urllib.request.urlopen(f"{server.base}/_stats") as response:
        return int(json.loads(response.read())["requests"])
