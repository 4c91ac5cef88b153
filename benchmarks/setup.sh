#!/usr/bin/env bash
# Installs the peers and the server the benchmarks compare against (Debian packages).
set -euo pipefail
missing=()
for tool in nginx:nginx-light aria2c:aria2 axel:axel curl:curl time:time lftp:lftp; do
    command -v "${tool%%:*}" >/dev/null || [ -x "/usr/sbin/${tool%%:*}" ] || missing+=("${tool##*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi
# parfive (with aioftp for FTP) in a venv of its own, for benchmarks/far.py.
peers="$(dirname "$0")/.peers-venv"
if [ ! -x "$peers/bin/python" ]; then
    python3 -m venv "$peers"
    "$peers/bin/python" -m pip install --quiet parfive aioftp
fi
