"""An S3 prefix from a local object store, against s5cmd and rclone.

    .venv/bin/python benchmarks/s3.py [--runs 5] [--quick]

moto's S3 server (tests/servers/s3d.py) on 127.0.0.1 holds a bucket with
40 objects of 4 MiB under one prefix (quick: 10); every tool copies the
whole prefix, unsigned, 16 connections: curlmulti-dl by a glob
(`s3://bench/seg/*`, ListObjectsV2 then ranged GETs), `s5cmd cp` with
--numworkers 16, `rclone copy` with --transfers 16. moto is Python and
serves every tool from one process, so it bounds them all; the ratios say
what each tool adds on top. Runs alternate; every sha256 is checked.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import time
from pathlib import Path

from common import PEERS_PYTHON, PYTHON, WORK, MiB, compile_sources, sha256, timed
from far import start
from report import Report

S5CMD = str(Path(PEERS_PYTHON).parent / "s5cmd")


def upload(endpoint: str, count: int, size: int) -> dict[str, str]:
    import boto3  # moto's dependency, in the project's venv for the tests

    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                      aws_access_key_id="bench", aws_secret_access_key="bench")  # fmt: skip
    s3.create_bucket(Bucket="bench")
    digests = {}
    for index in range(count):
        body = os.urandom(size)
        name = f"HS_H09_B{index % 16 + 1:02d}_S{index:03d}.DAT"
        s3.put_object(Bucket="bench", Key=f"seg/{name}", Body=body, ACL="public-read")
        digests[name] = hashlib.sha256(body).hexdigest()
    return digests


def commands(tool: str, endpoint: str, out: Path) -> list[str]:
    if tool == "curlmulti_dl":
        return [PYTHON, "-m", "curlmulti_dl", "-q", "--s3-endpoint", endpoint,
                "--no-sign-request", "--max-host-connections", "16", "-d", str(out),
                "s3://bench/seg/*"]  # fmt: skip
    if tool == "s5cmd":
        return [S5CMD, "--endpoint-url", endpoint, "--no-sign-request", "--numworkers", "16",
                "cp", "s3://bench/seg/*", f"{out}/"]  # fmt: skip
    if tool == "rclone":
        remote = f":s3,provider=Other,endpoint='{endpoint}',env_auth=false:bench/seg"
        # This machine sets AWS_CA_BUNDLE, which rclone 1.60's SDK cannot load
        # into its own transport (and a plain-HTTP endpoint needs no CA).
        return ["env", "-u", "AWS_CA_BUNDLE", "rclone", "copy", "--transfers", "16",
                "--config", "/dev/null", remote, str(out)]  # fmt: skip
    raise ValueError(tool)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="one run per tool, 10 objects")
    args = parser.parse_args()
    runs, count, size = (1, 10, 4 * MiB) if args.quick else (args.runs, 40, 4 * MiB)
    compile_sources()
    tools = ["curlmulti_dl"] + [t for t, path in (("s5cmd", S5CMD), ("rclone", "rclone"))
                                if shutil.which(path)]  # fmt: skip
    store, (port,) = start("s3d.py")
    endpoint = f"http://127.0.0.1:{port}"
    report = Report("s3", "s")
    try:
        digests = upload(endpoint, count, size)
        for index in range(runs):
            shift = index % len(tools)
            for tool in tools[shift:] + tools[:shift]:
                out = WORK / f"s3-out-{tool}"
                shutil.rmtree(out, ignore_errors=True)
                out.mkdir(parents=True)
                run = timed(commands(tool, endpoint, out), timeout=300)
                got = {p.name: sha256(p) for p in out.iterdir()}
                if got != digests:
                    raise RuntimeError(f"{tool}: the copy differs from the bucket")
                report.add(f"{count} x {size // MiB} MiB under a prefix", tool, run.wall)
    finally:
        store.kill()
        time.sleep(0.5)
    report.note(f"moto's S3 server on loopback, unsigned, 16 connections; medians of {runs} "
                "alternating runs; s5cmd --numworkers 16, rclone --transfers 16")  # fmt: skip
    report.write()
    return 0


if __name__ == "__main__":
    sys.exit(main())
