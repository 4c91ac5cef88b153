"""Map libcurl result codes to the exception tree, in one place."""

from __future__ import annotations

from .._exceptions import (
    ConnectError,
    DownloadError,
    DownloadTimeoutError,
    FTPError,
    HostKeyError,
    InvalidURLError,
    ProtocolError,
    RangeError,
    SFTPError,
    TLSError,
    TransportError,
)
from ..ranges.lane import Ending

__all__ = ["ending_of", "error_from_curl"]

# libcurl's CURLcode numbers (stable ABI).
_CONNECT = {5, 6, 7}  # couldn't resolve proxy / host, couldn't connect
_TIMEOUT = {28}
_TLS = {35, 51, 53, 54, 58, 59, 60, 64, 66, 77, 80, 82, 83, 90, 91, 98}
_UNTRUSTED = {51, 60}  # the peer's certificate did not verify
_URL = {1, 3}
_FTP = {8, 9, 10, 11, 12, 13, 14, 15, 17, 19, 21, 30, 31, 36, 67, 78, 84}
_RANGE = {33}
_WEIRD_REPLY = 8
_SSH_LOGIN, _SSH_MISSING, _SSH = 67, 78, 79
_HOST_KEY = 60  # on SFTP: the host key was not in known_hosts, or differed


_WRITE_ERROR = 23  # our write callback said stop
_NOT_FOUND = 78  # CURLE_REMOTE_FILE_NOT_FOUND


def ending_of(code: int) -> Ending:
    """libcurl result ``code`` as the file's decisions see it."""
    if code == 0:
        return Ending.DONE
    if code == _WRITE_ERROR:
        return Ending.CUT
    return Ending.NOT_FOUND if code == _NOT_FOUND else Ending.FAILED


def error_from_curl(code: int, message: str, url: str) -> DownloadError:
    """The ``DownloadError`` subclass that describes libcurl result ``code``."""
    if url.startswith("sftp:"):
        sftp = _sftp_error(code, message, url)
        if sftp is not None:
            return sftp
    if code == _WEIRD_REPLY and url.startswith(("http:", "https:")):
        # libcurl's "weird server reply" is an FTP code's number on FTP only.
        return ProtocolError(
            "the server's answer is not valid HTTP", url=url, curl_code=code, curl_message=message
        )
    kinds: list[tuple[set[int], type[DownloadError], str]] = [
        (_CONNECT, ConnectError, "could not connect"),
        (_TIMEOUT, DownloadTimeoutError, "timed out"),
        (_TLS, TLSError, "TLS failed"),
        (_URL, InvalidURLError, "URL rejected"),
        (_FTP, FTPError, "FTP server refused"),
        (_RANGE, RangeError, "server refused the byte range"),
    ]
    if code in _UNTRUSTED:
        return TLSError(
            "TLS failed: the server's certificate is not trusted (trust its CA with "
            "cacert= / --cacert FILE, or skip the check with verify_tls=False / -k)",
            url=url,
            curl_code=code,
            curl_message=message,
        )
    for codes, cls, what in kinds:
        if code in codes:
            return cls(what, url=url, curl_code=code, curl_message=message)
    return TransportError("transfer failed", url=url, curl_code=code, curl_message=message)


def _sftp_error(code: int, message: str, url: str) -> DownloadError | None:
    if code == _HOST_KEY:
        return HostKeyError(
            "the server's host key is not in the known_hosts file or differs from it "
            "(check the key, then add it, e.g. ssh-keyscan -p PORT HOST >> FILE; "
            "ssh_known_hosts= / --ssh-known-hosts FILE names the file)",
            url=url,
            curl_code=code,
            curl_message=message,
        )
    what = {_SSH_LOGIN: "SFTP login denied", _SSH_MISSING: "no such file on the SFTP server",
            _SSH: "SSH failed"}.get(code)  # fmt: skip
    if what is None:
        return None
    return SFTPError(what, url=url, curl_code=code, curl_message=message)
