#!/usr/bin/env bash
# Installs the peers and the server the benchmarks compare against (Debian packages).
set -euo pipefail
missing=()
for tool in nginx:nginx-light aria2c:aria2 axel:axel curl:curl time:time; do
    command -v "${tool%%:*}" >/dev/null || [ -x "/usr/sbin/${tool%%:*}" ] || missing+=("${tool##*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi
