"""Every way in: logins (URL, --user, .netrc), headers, proxies, redirects
and the shared rate limit, against real servers on loopback; no secret in
any output, file or process list."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import curlmulti_dl
from curlmulti_dl import Credentials, Downloader, DownloadOptions, RetryPolicy
from curlmulti_dl.schedule.rates import RateGate

from .conftest import DataFiles, LoggedFtp, Server, start_server, stop_server

USER, PASSWORD = "anna", "pw-Zq81-secret"
MiB = 1 << 20


@pytest.fixture(scope="module")
def private_http(data: DataFiles) -> Iterator[Server]:
    """An HTTP server that wants a Basic login for every file."""
    server = start_server("httpd.py", "--root", str(data.root), "--auth", f"{USER}:{PASSWORD}",
                          scheme="http")  # fmt: skip
    yield server
    stop_server(server)


@pytest.fixture
def proxy() -> Iterator[Server]:
    server = start_server("proxy.py", scheme="http")
    yield server
    stop_server(server)


def stats(server: Server) -> dict:
    with urllib.request.urlopen(f"{server.base}/_stats") as answer:
        return json.load(answer)  # type: ignore[no-any-return]


def proxy_log(proxy: Server) -> list[dict]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"{proxy.base}/_stats") as answer:
        return json.load(answer)["log"]  # type: ignore[no-any-return]


def cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "curlmulti_dl", *args], capture_output=True,
                          text=True, timeout=timeout, env=env)  # fmt: skip


def assert_no_secret(*texts: str, secret: str = PASSWORD) -> None:
    for text in texts:
        assert secret not in text, text[:2000]


def files_under(root: Path) -> str:
    return "".join(p.read_bytes().decode("latin-1") for p in root.rglob("*") if p.is_file())


# ------------------------------------------------------------------ logins


def test_basic_login_by_option_reaches_every_range(
    private_http: Server, data: DataFiles, tmp_path: Path, arun
) -> None:
    name = data.add("private.bin", 6 * MiB)
    before = stats(private_http)["unauthorized"]
    result = arun(curlmulti_dl.fetch(private_http.url(name), tmp_path, parts=4,
                                     auth=Credentials(USER, PASSWORD)))  # fmt: skip
    data.assert_same(name, result.path)
    assert result.ranges >= 2
    assert stats(private_http)["unauthorized"] == before  # no round trip lost to a 401
    assert_no_secret(repr(result), str(result), repr(Credentials(USER, PASSWORD)))
    assert_no_secret(repr(DownloadOptions(auth=(USER, PASSWORD), headers={"X-Key": PASSWORD})))


def test_no_login_is_a_clear_error_and_leaves_nothing(
    private_http: Server, data: DataFiles, tmp_path: Path, arun
) -> None:
    name = data.add("private-missing.bin", 100_000)
    with pytest.raises(curlmulti_dl.HTTPStatusError) as caught:
        arun(curlmulti_dl.fetch(private_http.url(name), tmp_path))
    assert caught.value.status == 401
    assert list(tmp_path.iterdir()) == []


def test_cli_user_and_netrc(private_http: Server, data: DataFiles, tmp_path: Path) -> None:
    name = data.add("private-cli.bin", 3 * MiB)
    out = tmp_path / "out"
    out.mkdir()
    done = cli("-q", "-n", "3", "--min-part-size", "512K", "--json", "-d", str(out),
               "--user", f"{USER}:{PASSWORD}", private_http.url(name))  # fmt: skip
    assert done.returncode == 0, done.stderr
    data.assert_same(name, out / name)
    assert_no_secret(done.stdout, done.stderr, files_under(out))
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine 127.0.0.1 login {USER} password {PASSWORD}\n")
    (out / name).unlink()
    done = cli("-q", "-d", str(out), "--netrc-file", str(netrc), private_http.url(name))
    assert done.returncode == 0, done.stderr
    data.assert_same(name, out / name)
    # A wrong password: one line, exit 1, nothing under the final name.
    (out / name).unlink()
    done = cli("-d", str(out), "--user", f"{USER}:not-it", private_http.url(name))
    assert done.returncode == 1 and "401" in done.stderr and "Traceback" not in done.stderr
    assert not (out / name).exists()
    assert_no_secret(done.stderr, secret="not-it")


def test_user_without_a_password_and_no_terminal_is_a_usage_error(
    private_http: Server, tmp_path: Path
) -> None:
    done = subprocess.run([sys.executable, "-m", "curlmulti_dl", "-d", str(tmp_path), "--user",
                           USER, private_http.url("x.bin")], capture_output=True, text=True,
                          timeout=30, start_new_session=True)  # fmt: skip
    assert done.returncode == 2 and "terminal" in done.stderr, done.stderr


def test_the_process_list_never_shows_the_password(
    private_http: Server, data: DataFiles, tmp_path: Path
) -> None:
    name = data.add("private-slow.bin", 2 * MiB)
    url = private_http.url(name, rate=1_000_000)
    header = "X-Api-Token: tok-Zq81-secret"
    process = subprocess.Popen([sys.executable, "-m", "curlmulti_dl", "-q", "-n", "1", "-d",
                                str(tmp_path), "-u", f"{USER}:{PASSWORD}", "-H", header, url],
                               stderr=subprocess.PIPE)  # fmt: skip
    seen: list[bytes] = []
    try:
        while process.poll() is None:
            try:
                seen.append(Path(f"/proc/{process.pid}/cmdline").read_bytes())
            except OSError:
                break
            if seen[-1].count(b"*") >= len(PASSWORD):
                break
            time.sleep(0.01)
        later = Path(f"/proc/{process.pid}/cmdline").read_bytes()
    finally:
        assert process.wait(30) == 0
    assert b"curlmulti_dl" in later and f"{USER}:".encode() in later
    assert PASSWORD.encode() not in later and b"tok-Zq81-secret" not in later, later
    data.assert_same(name, tmp_path / name)


def test_ftp_login_by_user_option(
    ftp_logged: LoggedFtp, data: DataFiles, tmp_path: Path, arun
) -> None:
    name = data.add("ftp-private.bin", 200_000)
    mark = ftp_logged.log.mark()
    result = arun(curlmulti_dl.fetch(ftp_logged.server.url(name), tmp_path,
                                     auth=("user", "secret")))  # fmt: skip
    data.assert_same(name, result.path)
    users = [a for cmds in ftp_logged.log.sessions(mark).values() for c, a in cmds if c == "USER"]
    assert users == ["user"]


def test_ftp_login_from_a_netrc_file(
    ftp_logged: LoggedFtp, data: DataFiles, tmp_path: Path
) -> None:
    name = data.add("ftp-netrc.bin", 120_000)
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login user password secret\n")
    out = tmp_path / "out"
    out.mkdir()
    mark = ftp_logged.log.mark()
    done = cli("-q", "--netrc-file", str(netrc), "-d", str(out), ftp_logged.server.url(name))
    assert done.returncode == 0, done.stderr
    data.assert_same(name, out / name)
    users = [a for cmds in ftp_logged.log.sessions(mark).values() for c, a in cmds if c == "USER"]
    assert users == ["user"]
    assert "secret" not in ftp_logged.log.path.read_text()  # the server's log shows ***


# ----------------------------------------------------------- headers, proxies


def test_headers_and_user_agent_reach_every_range(
    http_server: Server, data: DataFiles, tmp_path: Path, arun
) -> None:
    name = data.add("headers.bin", 4 * MiB)
    url = http_server.url(name, tag="headers-test")
    result = arun(curlmulti_dl.fetch(url, tmp_path, parts=4, headers={"X-Project": "P-Tree"},
                                     user_agent="satpy-fetch/1.0"))  # fmt: skip
    data.assert_same(name, result.path)
    records = [r for r in stats(http_server)["log"] if "tag=headers-test" in r["target"]]
    assert len(records) == result.ranges >= 2
    for record in records:
        assert record["headers"]["X-Project"] == "P-Tree"
        assert record["headers"]["User-Agent"] == "satpy-fetch/1.0"


def test_bad_headers_are_refused() -> None:
    for bad in (["Range: bytes=0-"], ["No colon"], {"X-A": "a\r\nX-B: b"}):
        with pytest.raises(ValueError):
            DownloadOptions(headers=bad)  # type: ignore[arg-type]
    done = cli("-H", "Range: bytes=1-", "http://127.0.0.1:9/x")
    assert done.returncode == 2 and "Range" in done.stderr and "Traceback" not in done.stderr


def test_input_file_headers_per_item(http_server: Server, data: DataFiles, tmp_path: Path) -> None:
    names = [data.add(f"item-headers-{n}.bin", 50_000 + n) for n in range(3)]
    listing = tmp_path / "list.txt"
    lines = []
    for n, name in enumerate(names):
        lines += [http_server.url(name, tag=f"item{n}"), f"  header=X-Item: {n}"]
    listing.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    out.mkdir()
    done = cli("-q", "-d", str(out), "-H", "X-All: yes", "-i", str(listing))
    assert done.returncode == 0, done.stderr
    log = stats(http_server)["log"]
    for n, name in enumerate(names):
        data.assert_same(name, out / name)
        (record,) = [r for r in log if f"tag=item{n}" in r["target"]]
        assert record["headers"]["X-Item"] == str(n) and record["headers"]["X-All"] == "yes"


def test_every_request_goes_through_the_proxy(
    http_server: Server, proxy: Server, data: DataFiles, tmp_path: Path, arun
) -> None:
    name = data.add("proxied.bin", 4 * MiB)
    url = http_server.url(name, tag="proxied")
    result = arun(curlmulti_dl.fetch(url, tmp_path, parts=4, proxy=proxy.base))
    data.assert_same(name, result.path)
    served = [r for r in stats(http_server)["log"] if "tag=proxied" in r["target"]]
    asked = [r for r in proxy_log(proxy) if "tag=proxied" in r["target"]]
    assert len(asked) == len(served) == result.ranges >= 2
    assert all(r["method"] == "GET" and r["target"].startswith("http://") for r in asked)


def test_a_socks5_proxy_carries_every_connection(
    http_server: Server, data: DataFiles, tmp_path: Path, arun
) -> None:
    log = tmp_path / "socks.log"
    log.write_text("")
    socks = start_server("socks5.py", "--log", str(log), scheme="socks5h")
    try:
        name = data.add("socks.bin", 3 * MiB)
        out = tmp_path / "out"
        out.mkdir()
        before = stats(http_server)["connections"]
        result = arun(curlmulti_dl.fetch(http_server.url(name), out, parts=3, proxy=socks.base))
        data.assert_same(name, result.path)
        http_port = http_server.base.rpartition(":")[2]
        made = log.read_text().split()
        # Every connection the server saw came through the proxy (but the
        # one asking for these counters).
        assert made == [f"127.0.0.1:{http_port}"] * len(made)
        seen = stats(http_server)["connections"] - before - 1
        assert seen == len(made) >= result.connections >= 2, (seen, made)
    finally:
        stop_server(socks)


def test_proxy_from_the_environment_with_a_login(
    http_server: Server, data: DataFiles, tmp_path: Path
) -> None:
    server = start_server("proxy.py", "--auth", f"{USER}:{PASSWORD}", scheme="http")
    try:
        name = data.add("proxied-env.bin", 300_000)
        url = http_server.url(name, tag="proxied-env")
        host = server.base.removeprefix("http://")
        env = {**os.environ, "http_proxy": f"http://{USER}:{PASSWORD}@{host}"}
        done = cli("--json", "-d", str(tmp_path), url, env=env)
        assert done.returncode == 0, done.stderr
        data.assert_same(name, tmp_path / name)
        asked = [r for r in proxy_log(server) if "tag=proxied-env" in r["target"]]
        assert asked and all(r["credentials"] for r in asked)
        assert_no_secret(done.stdout, done.stderr)
        # An empty --proxy means none, whatever the environment says.
        (tmp_path / name).unlink()
        done = cli("-q", "-x", "", "-d", str(tmp_path), url, env=env)
        assert done.returncode == 0, done.stderr
        assert len([r for r in proxy_log(server) if "tag=proxied-env" in r["target"]]) == len(asked)
    finally:
        stop_server(server)


def test_max_redirects(http_server: Server, data: DataFiles, tmp_path: Path, arun) -> None:
    name = data.add("redirected.bin", 10_000)
    with pytest.raises(curlmulti_dl.DownloadError, match=r"[Rr]edirect"):
        arun(curlmulti_dl.fetch(http_server.url(name, redirect=3), tmp_path, max_redirects=2))
    assert list(tmp_path.iterdir()) == []
    result = arun(curlmulti_dl.fetch(http_server.url(name, redirect=3), tmp_path, max_redirects=3))
    data.assert_same(name, result.path)


# ------------------------------------------------------------- rate limit


@given(
    rate=st.floats(1_000.0, 1e9),
    steps=st.lists(st.tuples(st.floats(0.0, 0.2), st.integers(1, 1 << 20)), max_size=60),
)
def test_a_gate_never_admits_more_than_its_rate_allows(
    rate: float, steps: list[tuple[float, int]]
) -> None:
    # Whatever the chunks and their timing, what was admitted by time t is at
    # most the bucket's burst, plus rate * t, plus the one chunk that took
    # it into debt.
    gate = RateGate(total=rate)
    now, admitted, largest = 0.0, 0, 0
    for pause, size in steps:
        now += pause
        if gate.admit("h", size, now) == 0.0:
            admitted += size
            largest = max(largest, size)
        assert admitted <= max(16_384.0, rate * 0.05) + rate * now + largest


def test_a_host_limit_and_the_total_both_hold() -> None:
    gate = RateGate(total=3_000_000, per_host=1_000_000)
    now, taken = 0.0, {"a": 0, "b": 0}
    while now < 10.0:
        for host in taken:
            if gate.admit(host, 16_384, now) == 0.0:
                taken[host] += 16_384
        now += 0.001
    for host, amount in taken.items():
        assert amount / 10.0 == pytest.approx(1_000_000, rel=0.02), (host, amount)
    slow = RateGate(total=1_000_000)
    assert slow.admit("a", 2_000_000, 0.0) == 0.0  # a chunk may take it into debt ...
    assert slow.admit("a", 1, 0.5) == pytest.approx(1.5)  # ... and the next one waits


def test_the_rate_limit_holds_at_the_server_over_several_files(
    http_server: Server, data: DataFiles, tmp_path: Path, arun
) -> None:
    # Four files, two ranges each, 6 MiB/s in all: the server's own clock
    # says how fast it could send, over the middle half of the run (its
    # start and end fill and drain the sockets' buffers).
    limit = 6 * MiB
    names = [data.add(f"paced-{n}.bin", 4 * MiB + n) for n in range(4)]

    async def run() -> list[curlmulti_dl.DownloadResult]:
        async with Downloader(max_bytes_per_second=limit) as dl:
            items = [http_server.url(n, trace=1) for n in names]
            async with dl.fetch_many(items, tmp_path, parts=2, min_part_size=MiB) as batch:
                return [r async for r in batch]

    results = arun(run())
    assert all(r.ok for r in results), results
    for name in names:
        data.assert_same(name, tmp_path / name)
    records = [r for r in stats(http_server)["log"] if "trace=1" in r["target"]]
    steps = sorted(
        (at, sent - before)
        for r in records
        for (at, sent), (_, before) in zip(r["marks"], [[0, 0], *r["marks"]], strict=False)
    )
    first, last = steps[0][0], steps[-1][0]
    window = (first + 0.25 * (last - first), last - 0.25 * (last - first))
    inside = sum(size for at, size in steps if window[0] <= at < window[1])
    rate = inside / (window[1] - window[0])
    assert abs(rate - limit) <= 0.1 * limit, (rate / MiB, last - first)


def test_transfers_held_back_by_a_low_limit_are_not_stalls(
    http_server: Server, data: DataFiles, tmp_path: Path, arun
) -> None:
    # 48 KiB/s shared by four files: each waits about a second between its
    # chunks, longer than stall_timeout; that silence is ours, not a stall.
    names = [data.add(f"held-{n}.bin", 48 * 1024 + n) for n in range(4)]

    async def run() -> list[curlmulti_dl.DownloadResult]:
        async with Downloader(max_bytes_per_second=48 * 1024) as dl:
            items = [http_server.url(n) for n in names]
            options = {"parts": 1, "stall_timeout": 0.5, "retry": RetryPolicy(attempts=0)}
            async with dl.fetch_many(items, tmp_path, **options) as batch:
                return [r async for r in batch]

    results = arun(run())
    assert [r.error for r in results if not r.ok] == []
    for name in names:
        data.assert_same(name, tmp_path / name)
