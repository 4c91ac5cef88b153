#!/usr/bin/env bash
# What the tests need beyond PyPI: nginx (its autoindex pages), vsftpd (a
# real FTP server's session limits) and OpenSSH's server (SFTP). As root with apt, nginx-light is
# installed (its package starts no daemon here) and vsftpd is unpacked into
# .venv/vsftpd (its package would start a daemon on port 21 for everyone);
# elsewhere the tests that need them are skipped, saying why.
set -u
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    exit 0
fi
updated=0
update() { [ $updated = 1 ] || { apt-get update -qq && updated=1; }; }
install() { update; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null; }

[ -x /usr/sbin/nginx ] || install nginx-light || echo "tests/setup.sh: nginx not installed"

dest=.venv/vsftpd
if [ ! -x "$dest/usr/sbin/vsftpd" ]; then
    work=$(mktemp -d)
    chmod 777 "$work"  # apt-get download runs as _apt
    if (cd "$work" && { apt-get download -qq vsftpd 2>/dev/null || { update && apt-get download -qq vsftpd; }; }); then
        dpkg-deb -x "$work"/vsftpd_*.deb "$dest"
        dpkg-query -W -f '${Status}' libwrap0 2>/dev/null | grep -q "ok installed" || install libwrap0
    else
        echo "tests/setup.sh: vsftpd could not be downloaded"
    fi
    rm -rf "$work"
fi
# OpenSSH's server, its daemon never started: a policy-rc.d that refuses
# every start is in place while apt runs (the tests start their own sshd on
# 127.0.0.1 with a temporary host key).
if [ ! -x /usr/lib/openssh/sftp-server ] || [ ! -x /usr/sbin/sshd ]; then
    made=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && made=1
    fi
    install openssh-server || echo "tests/setup.sh: openssh-server not installed"
    [ "$made" = 1 ] && rm -f /usr/sbin/policy-rc.d
fi
exit 0
