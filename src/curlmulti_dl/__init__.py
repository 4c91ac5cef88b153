"""curlmulti_dl: segmented multi-connection downloads on one pycurl CurlMulti.

Example::

    import curlmulti_dl
    result = await curlmulti_dl.fetch("https://example.org/big.nc", parts=8)
    result = curlmulti_dl.download("ftp://example.org/pub/big.nc")   # from a script
"""

from ._api import download, fetch
from ._config import DownloadOptions
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
    DownloadTimeout,
    FTPError,
    HTTPStatusError,
    InvalidURLError,
    RangeError,
    RangeNotSupportedError,
    RemoteFileChangedError,
    RetriesExhaustedError,
    ServerError,
    StorageError,
    TLSError,
    TransportError,
)
from ._policy import RebalancePolicy, RetryPolicy
from ._progress import DownloadResult, ProgressSnapshot
from ._version import __version__

__all__ = [
    "CallbackError",
    "ChecksumMismatchError",
    "ConnectError",
    "DestinationExistsError",
    "DestinationLockedError",
    "DiskFullError",
    "DownloadError",
    "DownloadOptions",
    "DownloadResult",
    "DownloadTimeout",
    "Downloader",
    "DownloaderClosedError",
    "FTPError",
    "HTTPStatusError",
    "InvalidURLError",
    "ProgressSnapshot",
    "RangeError",
    "RangeNotSupportedError",
    "RebalancePolicy",
    "RemoteFileChangedError",
    "RetriesExhaustedError",
    "RetryPolicy",
    "ServerError",
    "StorageError",
    "TLSError",
    "TransportError",
    "__version__",
    "download",
    "fetch",
]
