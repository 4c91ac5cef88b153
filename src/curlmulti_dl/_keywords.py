"""The keywords every entry point takes, typed once and checked in one place.

``fetch``, ``download``, ``fetch_many``, ``download_many``, ``Downloader``
and its methods take the same keywords with the same meaning: a file's
(``FileOptions``), a Downloader's (``DownloaderOptions``) and a batch's
(``BatchOptions``), each entry point the groups that make sense for it.
``check_options`` is the one check: a bad value raises ``ValueError``, a
keyword the entry point does not take ``TypeError``, both before any I/O and
with the same words whichever entry point was called. (Here, not in
``_config``: a Downloader's ``connection_leases`` is a ``schedule`` type.)

Example::

    checked = check_options({"parts": 4, "max_connections": 8}, downloader=True)
    checked.file.parts, checked.limits.max_connections   # 4, 8
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypedDict

from ._config import DownloadOptions, FileOptions
from ._expansion import MAX_LISTING_ENTRIES
from ._policy import RebalancePolicy
from .leases.source import HostLeases

__all__ = [
    "DEFAULT_LOOP_BUDGET",
    "BatchFileOptions",
    "BatchOptions",
    "BatchSettings",
    "Checked",
    "DownloaderOptions",
    "Limits",
    "ManyOptions",
    "Options",
    "check_options",
]

#: Seconds of libcurl work per event-loop iteration before the bridge yields.
#: Chosen from benchmarks/responsiveness.py (see the README's trade-off table).
DEFAULT_LOOP_BUDGET = 0.005


class DownloaderOptions(TypedDict, total=False):
    """The keywords of a ``Downloader`` (its limits; see ``Downloader``)."""

    max_connections: int
    max_host_connections: int
    loop_budget: float | None
    rebalance: RebalancePolicy | None
    limit_recovery: float
    max_bytes_per_second: float | None
    max_host_bytes_per_second: float | None
    connection_leases: HostLeases | None


class BatchOptions(TypedDict, total=False):
    """The keywords of a batch (see ``Downloader.fetch_many``)."""

    lookahead: int | None
    skip_existing: bool
    globs: bool
    depth: int
    max_listing_entries: int


class Options(DownloaderOptions, FileOptions, total=False):
    """``Downloader(...)``, ``fetch`` and ``download``: a Downloader's and a file's."""


class BatchFileOptions(BatchOptions, FileOptions, total=False):
    """``Downloader.fetch_many``: a batch's and a file's."""


class ManyOptions(BatchOptions, DownloaderOptions, FileOptions, total=False):
    """``download_many``: all three."""


@dataclass(frozen=True)
class Limits:
    """A Downloader's limits, checked (the defaults of ``DownloaderOptions``)."""

    max_connections: int = 64
    max_host_connections: int = 16
    loop_budget: float | None = DEFAULT_LOOP_BUDGET
    rebalance: RebalancePolicy | None = None
    limit_recovery: float = 30.0
    max_bytes_per_second: float | None = None
    max_host_bytes_per_second: float | None = None
    connection_leases: HostLeases | None = None

    def __post_init__(self) -> None:
        for name in ("max_connections", "max_host_connections"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, not {value!r}")
        for name in ("loop_budget", "max_bytes_per_second", "max_host_bytes_per_second"):
            value = getattr(self, name)
            if value is not None and not _positive(value):
                raise ValueError(f"{name} must be a positive number or None, not {value!r}")
        if not _positive(self.limit_recovery):
            raise ValueError(
                f"limit_recovery must be a positive number of seconds, not {self.limit_recovery!r}"
            )
        if self.rebalance is not None and not isinstance(self.rebalance, RebalancePolicy):
            raise ValueError(f"rebalance must be a RebalancePolicy, not {self.rebalance!r}")


@dataclass(frozen=True)
class BatchSettings:
    """A batch's keywords, checked (the defaults of ``BatchOptions``);
    ``lookahead`` None: twice the Downloader's ``max_connections``, at least 64."""

    lookahead: int | None = None
    skip_existing: bool = False
    globs: bool = True
    depth: int = 0
    max_listing_entries: int = MAX_LISTING_ENTRIES

    def __post_init__(self) -> None:
        if self.lookahead is not None and not _whole(self.lookahead, 1):
            raise ValueError(f"lookahead must be an integer >= 1 or None, not {self.lookahead!r}")
        if not _whole(self.depth, 0):
            raise ValueError(f"depth must be an integer >= 0, not {self.depth!r}")
        if not _whole(self.max_listing_entries, 1):
            raise ValueError(
                f"max_listing_entries must be an integer >= 1, not {self.max_listing_entries!r}"
            )


@dataclass(frozen=True)
class Checked:
    """What ``check_options`` found: the file's options merged onto the base,
    each group's keywords checked, and as given (``*_given``: the ones the
    caller named, to be handed on: ``limits_given`` to make a Downloader)."""

    file: DownloadOptions
    file_given: dict[str, Any] = field(default_factory=dict)
    limits: Limits = field(default_factory=Limits)
    limits_given: dict[str, Any] = field(default_factory=dict)
    batch: BatchSettings = field(default_factory=BatchSettings)
    batch_given: dict[str, Any] = field(default_factory=dict)


_FILE = frozenset(FileOptions.__optional_keys__)
_LIMITS = frozenset(DownloaderOptions.__optional_keys__)
_BATCH = frozenset(BatchOptions.__optional_keys__)


def check_options(
    options: Mapping[str, Any],
    base: DownloadOptions | None = None,
    *,
    downloader: bool = False,
    batch: bool = False,
) -> Checked:
    """``options`` checked for an entry point that takes a file's keywords,
    and a Downloader's (``downloader``) and a batch's (``batch``) if so told;
    the file's are applied to ``base`` (added to its headers).

    >>> check_options({"parts": 0})
    Traceback (most recent call last):
    ...
    ValueError: parts must be an integer >= 1, not 0
    """
    accepted = _FILE | (_LIMITS if downloader else frozenset()) | (_BATCH if batch else frozenset())
    for name in options:
        if name not in accepted:
            raise TypeError(_not_taken(name))
    file_given = {k: v for k, v in options.items() if k in _FILE}
    limits_given = {k: v for k, v in options.items() if k in _LIMITS}
    batch_given = {k: v for k, v in options.items() if k in _BATCH}
    return Checked(
        file=(base or _DEFAULTS).with_changes(**file_given),
        file_given=file_given,
        limits=Limits(**limits_given),
        limits_given=limits_given,
        batch=BatchSettings(**batch_given),
        batch_given=batch_given,
    )


_DEFAULTS = DownloadOptions()


def _not_taken(name: str) -> str:
    if name in _LIMITS:
        return (
            f"{name} is a Downloader's option: give it to Downloader(), fetch(), download() "
            "or download_many(), not to one download of a Downloader"
        )
    if name in _BATCH:
        return f"{name} is a batch's option: give it to fetch_many() or download_many()"
    close = difflib.get_close_matches(str(name), sorted(_FILE | _LIMITS | _BATCH), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown option {name!r}{hint}"


def _positive(value: object) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    )


def _whole(value: object, least: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= least
