"""A batch over a Dask cluster under one per-host cap, on the public API:
real worker processes, a loopback server counting its open connections,
every sha256 checked; the leasing logic on a cluster in this process first."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from curlmulti_dl.leases.semaphore import semaphore_name

from .conftest import DataFiles, Server
from .conftest import server_stats as stats

distributed = pytest.importorskip("distributed")
dask = pytest.importorskip("dask")
cdask = pytest.importorskip("curlmulti_dl.dask")

KiB = 1024


def files(data: DataFiles, prefix: str, count: int, size: int) -> list[str]:
    return [data.add(f"{prefix}/{prefix}-{i:04d}.bin", size + i) for i in range(count)]


def served(
    data: DataFiles, server: Server, tmp_path: Path, prefix: str, count: int, size: int, rate: int
) -> tuple[list[str], list[str], Path]:
    """``count`` files on ``server`` paced at ``rate``: names, URLs, an empty output dir."""
    names = files(data, prefix, count, size)
    out = tmp_path / "out"
    out.mkdir()
    return names, [server.url(n, rate=rate) for n in names], out


def leases_back(host: str) -> None:
    """Wait until the workers have given back every lease of ``host``: their
    connections are closed by then, and the server's counters are final
    (a /_stats request made before would count among them)."""
    semaphore = distributed.Semaphore(name=semaphore_name(host))  # not registered
    deadline = time.monotonic() + 15
    while semaphore.get_value() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert semaphore.get_value() == 0


def test_a_leased_host_has_no_slot_until_one_comes_and_a_refusal_parks_the_rest() -> None:
    from curlmulti_dl.schedule.scheduler import Scheduler

    scheduler: Scheduler[object] = Scheduler(64, 16, leased=True)
    assert scheduler.host("h:80").total == 0  # no lease yet: nobody starts
    scheduler.set_ceiling("h:80", 4)
    assert scheduler.host("h:80").total == 4
    scheduler.recover(now=100.0, period=1.0)
    assert scheduler.host("h:80").total == 4  # recovery stops at the leases held
    scheduler.hold("h:80", now=0.0)  # nothing in use: held at one
    assert scheduler.held_down("h:80")
    scheduler.set_ceiling("h:80", 8)
    assert scheduler.host("h:80").total == 1  # the extra leases are parked
    scheduler.recover(now=100.0, period=1.0)
    assert scheduler.host("h:80").total == 2
    scheduler.set_ceiling("h:80", 0)
    assert scheduler.host("h:80").total == 0


@pytest.mark.timeout(120)
def test_an_in_process_cluster_leases_per_connection_from_its_semaphores(
    own_http: Server, data: DataFiles, tmp_path: Path
) -> None:
    # The logic on a cluster in this process: leases from the scheduler's
    # semaphore as connections open, all back once they are closed.
    names, urls, out = served(data, own_http, tmp_path, "inproc", 60, 12 * KiB, 300_000)
    host = own_http.base.split("//")[1]
    with distributed.LocalCluster(n_workers=2, processes=False,
                                  dashboard_address=None) as local, \
            distributed.Client(local) as client:  # fmt: skip
        batch = cdask.fetch_on_cluster(client, urls, out, max_host_connections=3, chunk_size=10)
        results = list(batch)
        leases_back(host)  # every lease given back, the workers still up
    assert [r.error for r in results if not r.ok] == []
    for name in names:
        data.assert_same(name, out / Path(name).name)
    seen = stats(own_http)
    assert 2 <= seen["max_active"] <= 3, seen


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[object]:
    # A dead worker's leases come back after the lease timeout: short here.
    settings = {"distributed.scheduler.locks.lease-timeout": "2s",
                "distributed.scheduler.locks.lease-validation-interval": "200ms",
                "distributed.worker.daemon": False}  # fmt: skip
    with dask.config.set(settings):
        local = distributed.LocalCluster(
            n_workers=2, threads_per_worker=2, processes=True, host="127.0.0.1",
            dashboard_address=None, worker_dashboard_address=None,
            local_directory=str(tmp_path / "dask"),
        )  # fmt: skip
        client = distributed.Client(local)
        try:
            yield client
        finally:
            client.close()
            local.close()


@pytest.mark.timeout(180)
def test_a_cluster_batch_keeps_the_global_cap_and_every_file_arrives(
    cluster: object, own_http: Server, data: DataFiles, tmp_path: Path
) -> None:
    names, urls, out = served(data, own_http, tmp_path, "cluster", 300, 16 * KiB, 300_000)
    batch = cdask.fetch_on_cluster(cluster, iter(urls), out, max_host_connections=4,
                                   per_worker=4, chunk_size=25)  # fmt: skip
    results = list(batch)
    assert len(results) == 300
    assert [r.error for r in results if not r.ok] == []
    for name in names:
        data.assert_same(name, out / Path(name).name)
    leases_back(own_http.base.split("//")[1])
    seen = stats(own_http)
    assert seen["max_active"] <= 4, seen  # one cap for both workers, at the server
    assert batch.summary.succeeded == 300 and batch.summary.failed_count == 0
    assert not list(out.glob("*.part")), "no part file left"


@pytest.mark.timeout(240)
def test_a_worker_killed_mid_batch_loses_and_corrupts_no_file(
    cluster: object, own_http: Server, data: DataFiles, tmp_path: Path
) -> None:
    names, urls, out = served(data, own_http, tmp_path, "killed", 120, 96 * KiB, 200_000)
    client = cluster
    workers = client.scheduler_info()["workers"]  # type: ignore[attr-defined]
    victim = sorted(workers)[0]  # its address
    pid = client.run(os.getpid, workers=[victim])[victim]  # type: ignore[attr-defined]
    killed = threading.Event()

    def kill_soon() -> None:
        time.sleep(1.5)  # mid-batch: chunks are running on both workers
        os.kill(pid, signal.SIGKILL)
        killed.set()

    threading.Thread(target=kill_soon, daemon=True).start()
    batch = cdask.fetch_on_cluster(client, urls, out, max_host_connections=4, per_worker=2,
                                   chunk_size=10)  # fmt: skip
    results = list(batch)
    assert killed.is_set()
    ok = {Path(r.path).name for r in results if r.ok}
    assert len(ok) == 120, [r.error for r in results if not r.ok][:3]
    for name in names:
        data.assert_same(name, out / Path(name).name)
    leases_back(own_http.base.split("//")[1])  # the dead one's after the lease timeout
    assert stats(own_http)["max_active"] <= 4


@pytest.mark.timeout(180)
def test_the_command_runs_a_list_on_a_cluster(
    cluster: object, own_http: Server, data: DataFiles, tmp_path: Path
) -> None:
    import subprocess
    import sys

    names = files(data, "cluster-cli", 40, 8 * KiB)
    listing = tmp_path / "urls.txt"
    # The last file goes below -d's directory, in the one its dir= line names.
    listing.write_text("".join(own_http.url(n) + "\n" for n in names) + "  dir=sub\n")
    out = tmp_path / "out"
    out.mkdir()
    address = cluster.scheduler.address  # type: ignore[attr-defined]
    done = subprocess.run([sys.executable, "-m", "curlmulti_dl", "--dask-scheduler", address,
                           "-i", str(listing), "-d", str(out), "--max-host-connections", "3",
                           "--json"], capture_output=True, text=True, timeout=150)  # fmt: skip
    assert done.returncode == 0, done.stderr[-600:]
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(lines) == 41 and "Traceback" not in done.stderr
    for name in names[:-1]:
        data.assert_same(name, out / Path(name).name)
    data.assert_same(names[-1], out / "sub" / Path(names[-1]).name)
    leases_back(own_http.base.split("//")[1])
    assert stats(own_http)["max_active"] <= 3
    missing = subprocess.run([sys.executable, "-m", "curlmulti_dl", "--dask-scheduler",
                              "tcp://127.0.0.1:9", "-d", str(out), own_http.url(names[0])],
                             capture_output=True, text=True, timeout=60)  # fmt: skip
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
    assert missing.stderr.count("\n") == 1, missing.stderr
