"""The core under trio as under asyncio: the same tests, written with anyio,
run on both (each marked "trio": ``arun`` runs them under asyncio, then trio).
Real transfers on loopback, every sha256 checked."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

import curlmulti_dl
from curlmulti_dl import Downloader, DownloadResult

from .conftest import DataFiles, Server, assert_left_resumable

pytestmark = pytest.mark.trio
SMALL_PARTS = {"min_part_size": 1, "min_split_size": 1}


def test_concurrent_fetches_share_one_multi(
    http_server: Server, ftp_server: Server, data: DataFiles, tmp_path: Path, arun
) -> None:
    names = ["big.bin", "huge.bin", "odd.bin"]
    results: dict[str, DownloadResult] = {}

    async def scenario() -> None:
        async with Downloader(max_host_connections=6) as dl:

            async def one(base: Server, name: str, where: Path) -> None:
                results[f"{where.name}/{name}"] = await dl.fetch(
                    base.url(name), where, parts=4, ftp_min_part_size=1 << 20, **SMALL_PARTS
                )

            async with anyio.create_task_group() as group:
                for name in names:
                    group.start_soon(one, http_server, name, tmp_path / "http")
                    group.start_soon(one, ftp_server, name, tmp_path / "ftp")

    for sub in ("http", "ftp"):
        (tmp_path / sub).mkdir()
    arun(scenario())
    for key, result in results.items():
        data.assert_same(key.split("/")[1], result.path)
    assert len(results) == 6


def test_cancellation_leaves_a_resumable_part_and_no_handles(
    http_server: Server, tmp_path: Path, arun
) -> None:
    url = http_server.url("huge.bin", rate=1_000_000)

    async def scenario() -> int:
        async with Downloader() as dl:
            with anyio.move_on_after(0.6):
                await dl.fetch(url, tmp_path, parts=4, **SMALL_PARTS)
            return dl.bridge.active

    assert arun(scenario()) == 0
    assert_left_resumable(tmp_path, "huge.bin")
    assert (tmp_path / "huge.bin.part.journal").exists()


def test_a_batch_with_a_missing_file_and_a_shared_rate_limit(
    http_server: Server, data: DataFiles, tmp_path: Path, arun
) -> None:
    names = [data.add(f"trio-batch/{n}.bin", 30_000 + 997 * n) for n in range(12)]
    items = [http_server.url(n) for n in names] + [http_server.url("trio-batch/missing.bin")]

    async def scenario() -> list[DownloadResult]:
        dl = Downloader(max_host_connections=4, max_bytes_per_second=4 << 20)
        async with dl, dl.fetch_many(items, tmp_path, parts=2) as batch:
            return [r async for r in batch]

    results = arun(scenario())
    failed = [r for r in results if not r.ok]
    assert len(results) == 13 and len(failed) == 1
    assert isinstance(failed[0].error, curlmulti_dl.HTTPStatusError)
    for name in names:
        data.assert_same(name, tmp_path / Path(name).name)


def test_download_from_a_script_and_the_shared_fetch(
    http_server: Server, data: DataFiles, tmp_path: Path, arun
) -> None:
    async def scenario() -> DownloadResult:
        return await curlmulti_dl.fetch(http_server.url("big.bin"), tmp_path, parts=8,
                                        **SMALL_PARTS)  # fmt: skip

    result = arun(scenario())
    data.assert_same("big.bin", result.path)
    assert result.connections >= 2


def test_downloaders_sharing_leases_keep_the_cap_on_ftp_and_http(
    http_server: Server, ftp_server: Server, data: DataFiles, tmp_path: Path, arun
) -> None:
    # FTP's data connections go to other ports: only sessions take leases.
    leases = curlmulti_dl.LocalLeases(cap=2)
    names = ["big.bin", "odd.bin"]
    results: list[DownloadResult] = []

    async def scenario() -> None:
        async with Downloader(connection_leases=leases) as a, \
                   Downloader(connection_leases=leases) as b:  # fmt: skip

            async def one(dl: Downloader, base: Server, name: str, where: Path) -> None:
                options = {"ftp_min_part_size": 1 << 18, **SMALL_PARTS}
                results.append(await dl.fetch(base.url(name), where, parts=4, **options))

            async with anyio.create_task_group() as group:
                for name in names:
                    group.start_soon(one, a, http_server, name, tmp_path / "http")
                    group.start_soon(one, b, ftp_server, name, tmp_path / "ftp")
                    group.start_soon(one, b, http_server, name, tmp_path / "http2")
        assert leases.most_taken[http_server.base.split("//")[1]] == 2  # the whole cap
        assert leases.most_taken[ftp_server.base.split("//")[1]] == 2

    for sub in ("http", "ftp", "http2"):
        (tmp_path / sub).mkdir()
    arun(scenario())
    assert len(results) == 6
    for result in results:
        assert result.path is not None
        data.assert_same(result.path.name, result.path)
    assert sum(leases.taken.values()) == 0
