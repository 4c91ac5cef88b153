"""curlmulti_dl: segmented multi-connection downloads on one pycurl CurlMulti.

Example::

    import curlmulti_dl
    result = await curlmulti_dl.fetch("https://example.org/big.nc", parts=8)
    result = curlmulti_dl.download("ftp://example.org/pub/big.nc")   # from a script

The names below load on first use (PEP 562): ``curlmulti-dl`` starts its
first connection before the engine's modules load (``cli.launch``).
"""

from __future__ import annotations

import importlib
import warnings
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from ._api import download, download_many, fetch
    from ._batch import Batch, BatchSummary, DownloadRequest
    from ._config import Credentials, DownloadOptions, FileOptions
    from ._downloader import Downloader
    from ._exceptions import (
        CallbackError,
        ChecksumMismatchError,
        ConnectError,
        DestinationExistsError,
        DestinationLockedError,
        DiskFullError,
        DownloaderClosedError,
        DownloadError,
        DownloadTimeoutError,
        DuplicateOutputError,
        ForeignFileError,
        FTPError,
        HostKeyError,
        HTTPStatusError,
        InsecureRedirectError,
        InvalidURLError,
        ListingLimitError,
        ProtocolError,
        RangeError,
        RangeNotSupportedError,
        RemoteFileChangedError,
        RetriesExhaustedError,
        ServerError,
        SFTPError,
        StorageError,
        TLSError,
        TransportError,
        UnsafePathError,
    )
    from ._exceptions import (
        DownloadTimeout as DownloadTimeout,  # deprecated: DownloadTimeoutError
    )
    from ._keywords import BatchOptions, DownloaderOptions
    from ._policy import RebalancePolicy, RetryPolicy
    from ._progress import DownloadResult, ProgressSnapshot
    from .leases import HostLeases, LocalLeases

__all__ = [
    "Batch",
    "BatchOptions",
    "BatchSummary",
    "CallbackError",
    "ChecksumMismatchError",
    "ConnectError",
    "Credentials",
    "DestinationExistsError",
    "DestinationLockedError",
    "DiskFullError",
    "DownloadError",
    "DownloadOptions",
    "DownloadRequest",
    "DownloadResult",
    "DownloadTimeoutError",
    "Downloader",
    "DownloaderClosedError",
    "DownloaderOptions",
    "DuplicateOutputError",
    "FTPError",
    "FileOptions",
    "ForeignFileError",
    "HTTPStatusError",
    "HostKeyError",
    "HostLeases",
    "InsecureRedirectError",
    "InvalidURLError",
    "ListingLimitError",
    "LocalLeases",
    "ProgressSnapshot",
    "ProtocolError",
    "RangeError",
    "RangeNotSupportedError",
    "RebalancePolicy",
    "RemoteFileChangedError",
    "RetriesExhaustedError",
    "RetryPolicy",
    "SFTPError",
    "ServerError",
    "StorageError",
    "TLSError",
    "TransportError",
    "UnsafePathError",
    "__version__",
    "download",
    "download_many",
    "fetch",
]

_HOMES = {
    "download": "_api",
    "download_many": "_api",
    "fetch": "_api",
    "Batch": "_batch",
    "BatchSummary": "_batch",
    "DownloadRequest": "_batch",
    "Credentials": "_config",
    "DownloadOptions": "_config",
    "FileOptions": "_config",
    "BatchOptions": "_keywords",
    "DownloaderOptions": "_keywords",
    "Downloader": "_downloader",
    "RebalancePolicy": "_policy",
    "RetryPolicy": "_policy",
    "DownloadResult": "_progress",
    "ProgressSnapshot": "_progress",
    "HostLeases": "leases",
    "LocalLeases": "leases",
}

# Old names, kept for one release (see the CHANGELOG).
_DEPRECATED = {"DownloadTimeout": "DownloadTimeoutError"}


if not TYPE_CHECKING:  # to a type checker the names above are plain imports; a typo is an error

    def __getattr__(name: str) -> Any:
        if name in _DEPRECATED:  # warned at every use, so never cached
            new = _DEPRECATED[name]
            warnings.warn(f"{name} is now {new}", DeprecationWarning, stacklevel=2)
            return getattr(importlib.import_module("._exceptions", __name__), new)
        if name not in __all__:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        home = _HOMES.get(name, "_exceptions")
        value = getattr(importlib.import_module(f".{home}", __name__), name)
        globals()[name] = value  # once: later lookups are plain attribute reads
        return value

    def __dir__() -> list[str]:
        return sorted(set(globals()) | set(__all__))
