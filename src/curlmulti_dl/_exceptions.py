"""The exception tree of curlmulti_dl.

Every failure the library reports is a ``DownloadError``; no ``pycurl.error``
escapes the public API. The tree::

    DownloadError                    (url, message, curl_code, curl_message)
    ├── InvalidURLError              bad URL or unsupported scheme
    ├── TransportError               the connection failed
    │   ├── ConnectError             could not resolve or connect
    │   ├── TLSError                 certificate or handshake failure
    │   ├── HostKeyError             SFTP: the server's key is unknown or changed
    │   └── DownloadTimeoutError     connect timeout or stalled transfer
    ├── ServerError                  the server answered, but not with the file
    │   ├── HTTPStatusError          an HTTP error status (.status)
    │   ├── FTPError                 an FTP failure (missing file, login denied, ...)
    │   ├── SFTPError                an SFTP failure (missing file, login denied, ...)
    │   ├── ProtocolError            an answer that cannot be read (a listing, a size,
    │   │                            a date, a Content-Range, an XML page)
    │   ├── InsecureRedirectError    a redirect from https to http, not allowed
    │   └── ListingLimitError        a listing or walk past its entry cap
    ├── RangeError                   a range answer did not match what was asked
    │   └── RangeNotSupportedError   the server stopped honouring ranges mid-download
    ├── RemoteFileChangedError       size or validator changed during the download
    ├── ChecksumMismatchError        the file's digest is not the expected one
    │                                (.algorithm, .expected, .actual)
    ├── StorageError                 the local file could not be written
    │   ├── DiskFullError            no space left for the reservation or a write
    │   ├── DestinationLockedError   another download holds NAME.part
    │   ├── DestinationExistsError   NAME exists and overwriting was not asked for
    │   ├── DuplicateOutputError     two items of one batch name the same file
    │   ├── UnsafePathError          an output path outside the batch's directory
    │   └── ForeignFileError         a NAME.part (or its journal) this tool did not make
    ├── RetriesExhaustedError        failed more often than the retry policy allows
    │                                (.attempts: each failure; .last_error, also the
    │                                __cause__); also an instance of the last failure's
    │                                class: a 503 after retries is an HTTPStatusError
    ├── CallbackError                your progress callback raised (the __cause__)
    └── DownloaderClosedError        the Downloader was closed while this waited

Every URL an exception carries or prints has its password replaced by ``***``
(``exc.url``, ``str(exc)``); the real URL stays inside the transfer.

The error raised once retries are spent is a ``RetriesExhaustedError`` and an
instance of its last failure's class at once (a class made for the pair,
``RetriesExhaustedError[HTTPStatusError]``, with that failure's fields such as
``status``): code that catches the cause catches it whether or not it was
retried, and code that cares about retries catches ``RetriesExhaustedError``.
(Wrapping alone would hide the cause from ``except``; raising the bare cause
would lose the attempts.)

Example::

    try:
        await curlmulti_dl.fetch(url)
    except curlmulti_dl.HTTPStatusError as exc:   # at once, or after the retries
        print(exc.status, exc.url)
        if isinstance(exc, curlmulti_dl.RetriesExhaustedError):
            print(len(exc.attempts), "attempts:", [str(e) for e in exc.attempts])
    except curlmulti_dl.DownloadError as exc:
        print(exc)
"""

from __future__ import annotations

from ._redact import redact_url, url_secrets

__all__ = [
    "CallbackError",
    "ChecksumMismatchError",
    "ConnectError",
    "DestinationExistsError",
    "DestinationLockedError",
    "DiskFullError",
    "DownloadError",
    "DownloadTimeoutError",
    "DownloaderClosedError",
    "DuplicateOutputError",
    "FTPError",
    "ForeignFileError",
    "HTTPStatusError",
    "HostKeyError",
    "InsecureRedirectError",
    "InvalidURLError",
    "ListingLimitError",
    "ProtocolError",
    "RangeError",
    "RangeNotSupportedError",
    "RemoteFileChangedError",
    "RetriesExhaustedError",
    "SFTPError",
    "ServerError",
    "StorageError",
    "TLSError",
    "TransportError",
    "UnsafePathError",
]


class DownloadError(Exception):
    """Base class: a download of ``url`` failed.

    ``curl_code`` and ``curl_message`` are set when libcurl reported the failure.
    """

    def __init__(
        self,
        message: str,
        *,
        url: str = "",
        curl_code: int | None = None,
        curl_message: str | None = None,
    ) -> None:
        secrets = url_secrets(url) if url else []
        message = _scrub(message, secrets)
        super().__init__(message)
        self.message = message
        self.url = redact_url(url)
        self.curl_code = curl_code
        self.curl_message = _scrub(curl_message, secrets) if curl_message else curl_message

    def __reduce__(self) -> tuple[object, ...]:
        # Exception's own pickling calls ``cls(*args)``, which the subclasses
        # with keyword-only fields refuse; rebuild from the state instead
        # (results cross processes in a Dask cluster).
        return (_restore, (type(self), self.args, self.__dict__))

    def __str__(self) -> str:
        text = self.message
        if self.curl_code is not None and self.curl_message:
            text = f"{text} (curl {self.curl_code}: {self.curl_message})"
        return f"{self.url}: {text}" if self.url else text


class InvalidURLError(DownloadError):
    """The URL cannot be downloaded: malformed, or a scheme we do not speak."""


class TransportError(DownloadError):
    """The network connection failed or broke."""


class ConnectError(TransportError):
    """The host could not be resolved or connected to."""


class TLSError(TransportError):
    """TLS failed: untrusted certificate, wrong host name or handshake error."""


class HostKeyError(TransportError):
    """SFTP: the server's host key is not in the known_hosts file, or differs
    from the key there. Never accepted silently: check the key, then add it."""


class DownloadTimeoutError(TransportError):
    """Connecting took too long, or the transfer stalled."""


#: Deprecated name of ``DownloadTimeoutError``, kept for one release.
DownloadTimeout = DownloadTimeoutError


class ServerError(DownloadError):
    """The server answered but did not deliver the file."""


class HTTPStatusError(ServerError):
    """The HTTP server answered with an error ``status``."""

    def __init__(self, message: str, *, url: str = "", status: int) -> None:
        super().__init__(message, url=url)
        self.status = status


class FTPError(ServerError):
    """The FTP server refused: missing file, login denied, no data connection."""


class SFTPError(ServerError):
    """The SFTP server refused: missing file, login denied, no SSH session."""


class ProtocolError(ServerError):
    """The server's answer could not be read: a listing line, a size, a date,
    a ``Content-Range`` or an XML page that is not of the form it must be.
    Servers and listings are input: nothing they send raises anything else."""


class InsecureRedirectError(ServerError):
    """A redirect from ``https`` to ``http`` (refused unless allowed:
    ``allow_insecure_redirects=True``, ``--allow-insecure-redirect``)."""


class ListingLimitError(ServerError):
    """A listing or a recursive walk gave more entries than its cap
    (``max_listing_entries``, ``--max-listing-entries``)."""


class RangeError(DownloadError):
    """A ranged answer did not cover the bytes that were asked for."""


class RangeNotSupportedError(RangeError):
    """The server ignored ``Range`` for a part after honouring it for the first."""


class RemoteFileChangedError(DownloadError):
    """The remote file's size, ETag or Last-Modified changed while downloading."""


class ChecksumMismatchError(DownloadError):
    """Every byte arrived, but the file's ``algorithm`` digest is ``actual``,
    not the ``expected`` one (given by you, or sent by the server)."""

    def __init__(
        self, message: str, *, url: str = "", algorithm: str, expected: str, actual: str
    ) -> None:
        super().__init__(message, url=url)
        self.algorithm = algorithm
        self.expected = expected
        self.actual = actual


class StorageError(DownloadError):
    """The destination could not be created, reserved or written."""


class DiskFullError(StorageError):
    """The file system ran out of space."""


class DestinationLockedError(StorageError):
    """Another download is writing the same ``NAME.part``."""


class DestinationExistsError(StorageError):
    """The destination exists and ``overwrite`` was not given."""


class DuplicateOutputError(StorageError):
    """A batch item names an output file that an earlier item of the batch
    writes too: the later item is refused, the earlier one goes on."""


class UnsafePathError(StorageError):
    """An output path that would leave the batch's directory: absolute, with
    ``..`` parts, or through a symbolic link that points out of it."""


class ForeignFileError(StorageError):
    """``NAME.part`` or ``NAME.part.journal`` exists but this tool did not
    make it (no journal of ours): it is left untouched and the item fails."""


class RetriesExhaustedError(DownloadError):
    """A file failed more often than its retry policy allows. ``attempts``:
    the failure of each attempt, oldest first; ``last_error`` (also the
    ``__cause__``) is the last of them.

    Made with a ``last_error`` of another class, it is an instance of a class
    made for both (``RetriesExhaustedError[HTTPStatusError]``, one per cause
    class), carrying the last failure's fields (``status``, ``curl_code``):
    ``except HTTPStatusError`` catches a 503 that outlived its retries.

    >>> last = HTTPStatusError("503 Service Unavailable", url="https://h/f", status=503)
    >>> error = RetriesExhaustedError("gave up", last_error=last)
    >>> isinstance(error, HTTPStatusError), error.status, len(error.attempts)
    (True, 503, 1)
    """

    last_error: DownloadError
    attempts: tuple[DownloadError, ...]

    def __new__(
        cls,
        message: str,
        *,
        last_error: DownloadError,
        attempts: tuple[DownloadError, ...] = (),
    ) -> RetriesExhaustedError:
        if cls is RetriesExhaustedError:
            cls = exhausted_class(type(last_error))
        return super().__new__(cls, message)

    def __init__(
        self,
        message: str,
        *,
        last_error: DownloadError,
        attempts: tuple[DownloadError, ...] = (),
    ) -> None:
        # Not super().__init__: the cause's class may be next in line, and its
        # fields are copied from the failure instead of given again.
        DownloadError.__init__(
            self,
            message,
            url=last_error.url,
            curl_code=last_error.curl_code,
            curl_message=last_error.curl_message,
        )
        for name, value in vars(last_error).items():
            self.__dict__.setdefault(name, value)  # the cause's own: status, algorithm
        self.last_error = last_error
        self.attempts = tuple(attempts) or (last_error,)

    def __reduce__(self) -> tuple[object, ...]:
        cause = _CAUSES.get(type(self))
        if cause is None:
            return super().__reduce__()
        # The made class is found again from its cause's (which pickles by name).
        return (_restore_exhausted, (cause, self.args, self.__dict__))


class CallbackError(DownloadError):
    """A callback given to the library raised; the download was stopped.
    The original exception is the ``__cause__``."""


class DownloaderClosedError(DownloadError):
    """The ``Downloader`` was closed before this download finished."""


_MADE: dict[type[DownloadError], type[RetriesExhaustedError]] = {}
_CAUSES: dict[type[RetriesExhaustedError], type[DownloadError]] = {}


def exhausted_class(cause: type[DownloadError]) -> type[RetriesExhaustedError]:
    """The class of a ``RetriesExhaustedError`` whose last failure is a
    ``cause``: a subclass of both, made once per cause class."""
    if cause is DownloadError or issubclass(cause, RetriesExhaustedError):
        return RetriesExhaustedError
    made = _MADE.get(cause)
    if made is None:
        name = f"RetriesExhaustedError[{cause.__name__}]"
        made = type(name, (RetriesExhaustedError, cause), {"__module__": __name__})
        made.__qualname__ = name
        _MADE[cause], _CAUSES[made] = made, cause
    return made


def _restore_exhausted(
    cause: type[DownloadError], args: tuple[object, ...], state: dict[str, object]
) -> DownloadError:
    return _restore(exhausted_class(cause), args, state)


def _restore(
    cls: type[DownloadError], args: tuple[object, ...], state: dict[str, object]
) -> DownloadError:
    error = Exception.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


def _scrub(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text
