"""The event loop stays idle when idle, and responsive when busy."""

from __future__ import annotations

import asyncio
import statistics
import time
from pathlib import Path

import pytest

from curlmulti_dl import Downloader

from .conftest import DataFiles, Server


@pytest.mark.core
def test_idle_downloader_makes_no_callbacks(
    http_server: Server, data: DataFiles, tmp_path: Path, arun
) -> None:
    async def scenario() -> None:
        async with Downloader() as dl:
            result = await dl.fetch(http_server.url("big.bin"), tmp_path, parts=4, min_part_size=1)
            data.assert_same("big.bin", result.path)
            await asyncio.sleep(0.2)
            bridge = dl.bridge
            before = (bridge.socket_callbacks, bridge.timer_callbacks)
            cpu = time.process_time()
            await asyncio.sleep(2.0)
            assert (bridge.socket_callbacks, bridge.timer_callbacks) == before
            assert time.process_time() - cpu < 0.05

    arun(scenario())


def test_fresh_downloader_is_silent(arun) -> None:
    async def scenario() -> None:
        async with Downloader() as dl:
            bridge = dl.bridge
            await asyncio.sleep(2.0)
            assert (bridge.socket_callbacks, bridge.timer_callbacks) == (0, 0)

    arun(scenario())


@pytest.mark.core
def test_sleeper_keeps_ticking_during_full_speed_download(
    http_server: Server, data: DataFiles, tmp_path: Path, arun
) -> None:
    async def scenario() -> tuple[list[float], int]:
        lateness: list[float] = []
        downloaded = 0
        stop = asyncio.Event()

        async def sleeper() -> None:
            while len(lateness) < 200 or not stop.is_set():
                start = time.perf_counter()
                await asyncio.sleep(0.010)
                lateness.append(time.perf_counter() - start - 0.010)
                if len(lateness) >= 200:
                    stop.set()

        async with Downloader() as dl:
            ticker = asyncio.create_task(sleeper())
            while not stop.is_set():
                result = await dl.fetch(
                    http_server.url("huge.bin"), tmp_path, parts=8, overwrite=True
                )
                downloaded += result.size
            await ticker
        data.assert_same("huge.bin", tmp_path / "huge.bin")
        return lateness, downloaded

    lateness, downloaded = arun(scenario())
    assert downloaded > 0
    p95 = statistics.quantiles(lateness, n=20)[-1]
    assert p95 < 0.250, f"p95 lateness {p95 * 1000:.0f} ms"
