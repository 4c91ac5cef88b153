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
# The Python peers (parfive, with aioftp for FTP) and matplotlib for the
# charts, in a venv of their own: nothing of theirs reaches the project's.
peers="$(dirname "$0")/.peers-venv"
[ -x "$peers/bin/python" ] || python3 -m venv "$peers"
"$peers/bin/python" -c "import parfive, aioftp, matplotlib" 2>/dev/null ||
    "$peers/bin/python" -m pip install --quiet parfive aioftp matplotlib
