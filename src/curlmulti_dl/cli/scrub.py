"""Blanking passwords and tokens in our own command line, as ``ps`` and
``/proc/PID/cmdline`` show it (what curl does for ``-u``).

Python has copied ``sys.argv`` by now; the kernel shows the original bytes
of the process's argument area, which ``/proc/self/mem`` may overwrite in
place. Linux only; elsewhere nothing is changed (``--netrc-file`` keeps
secrets off the command line anywhere).
"""

from __future__ import annotations

import argparse

from .._redact import url_secrets

__all__ = ["blank_in_process_list", "command_line_secrets"]


def command_line_secrets(args: argparse.Namespace) -> list[str]:
    """The secrets given on the command line: ``--user``'s password, the
    passwords in URLs and ``--proxy``, and the values of ``-H`` headers."""
    found: list[str] = []
    if args.user and ":" in args.user:
        found.append(args.user.partition(":")[2])
    for url in [*args.urls, args.proxy or ""]:
        found += url_secrets(url)
    for line in args.header:
        found.append(line.partition(":")[2].strip())
    return sorted({s for s in found if s}, key=len, reverse=True)


def blank_in_process_list(secrets: list[str]) -> bool:
    """Overwrite every occurrence of ``secrets`` in the process's argument
    area with ``*``; whether the area could be rewritten."""
    wanted = [s.encode() for s in secrets if s]
    if not wanted:
        return True
    try:
        with open("/proc/self/stat", "rb") as stat:
            # After the command name in parentheses, fields count from 3;
            # arg_start and arg_end are fields 48 and 49 (proc(5)).
            fields = stat.read().rpartition(b")")[2].split()
        start, end = int(fields[45]), int(fields[46])
        with open("/proc/self/mem", "r+b", buffering=0) as mem:
            mem.seek(start)
            area = mem.read(end - start)
            blanked = area
            for secret in wanted:
                blanked = blanked.replace(secret, b"*" * len(secret))
            if blanked != area:
                mem.seek(start)
                mem.write(blanked)
    except (OSError, ValueError, IndexError):
        return False
    return True
