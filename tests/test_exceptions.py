"""Every exception of the public tree survives pickling (results cross
processes: a Dask worker, a multiprocessing pool) with its fields intact and
its secrets still out."""

from __future__ import annotations

import inspect
import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

import curlmulti_dl

PUBLIC = [
    getattr(curlmulti_dl, name)
    for name in curlmulti_dl.__all__
    if inspect.isclass(getattr(curlmulti_dl, name))
    and issubclass(getattr(curlmulti_dl, name), curlmulti_dl.DownloadError)
]
URL = "https://user:hunter2@example.org/data/a.nc?token=abc"


def build(cls: type[curlmulti_dl.DownloadError], message: str) -> curlmulti_dl.DownloadError:
    if issubclass(cls, curlmulti_dl.HTTPStatusError):
        return cls(message, url=URL, status=503)
    if issubclass(cls, curlmulti_dl.ChecksumMismatchError):
        return cls(message, url=URL, algorithm="sha256", expected="aa", actual="bb")
    if issubclass(cls, curlmulti_dl.RetriesExhaustedError):
        first = curlmulti_dl.DownloadTimeoutError("no data for 60 s", url=URL)
        last = curlmulti_dl.HTTPStatusError("503 from the server", url=URL, status=503)
        return cls(message, last_error=last, attempts=(first, last))
    return cls(message, url=URL, curl_code=28, curl_message="Operation timed out")


def test_the_tree_is_all_there() -> None:
    assert curlmulti_dl.DownloadError in PUBLIC
    assert len(PUBLIC) >= 20


@pytest.mark.parametrize("cls", PUBLIC, ids=lambda cls: cls.__name__)
def test_round_trip_keeps_type_fields_and_text(cls: type[curlmulti_dl.DownloadError]) -> None:
    error = build(cls, "it failed")
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is type(error) and isinstance(back, cls)  # (a made class for retries)
    assert str(back) == str(error)
    assert back.args == error.args
    errors = ("last_error", "attempts")
    fields = {k: v for k, v in vars(error).items() if k not in errors}
    assert {k: v for k, v in vars(back).items() if k not in errors} == fields
    if isinstance(error, curlmulti_dl.RetriesExhaustedError):
        assert isinstance(back, curlmulti_dl.RetriesExhaustedError)
        assert isinstance(back, curlmulti_dl.HTTPStatusError) and back.status == 503
        assert type(back.last_error) is curlmulti_dl.HTTPStatusError
        assert back.last_error.status == 503  # type: ignore[attr-defined]
        assert [str(e) for e in back.attempts] == [str(e) for e in error.attempts]
        assert back.attempts[-1] is back.last_error  # one object, as before pickling
    assert "hunter2" not in repr(pickle.dumps(error)) and "hunter2" not in str(back)


@given(message=st.text(max_size=200), which=st.sampled_from(PUBLIC))
def test_any_message_round_trips(message: str, which: type[curlmulti_dl.DownloadError]) -> None:
    error = build(which, message)
    back = pickle.loads(pickle.dumps(error, protocol=pickle.HIGHEST_PROTOCOL))
    assert (type(back), str(back)) == (type(error), str(error))
    assert isinstance(back, which)


@pytest.mark.parametrize("cause", [c for c in PUBLIC if c is not curlmulti_dl.DownloadError])
def test_retries_exhausted_is_caught_as_its_cause(cause: type[curlmulti_dl.DownloadError]) -> None:
    last = build(cause, "the last failure")
    if isinstance(last, curlmulti_dl.RetriesExhaustedError):
        return  # (never the cause of another)
    error = curlmulti_dl.RetriesExhaustedError("gave up", last_error=last, attempts=(last,))
    assert isinstance(error, cause) and isinstance(error, curlmulti_dl.RetriesExhaustedError)
    assert type(error) is type(
        curlmulti_dl.RetriesExhaustedError("again", last_error=last)
    )  # one class per cause
    assert type(error).__name__ == f"RetriesExhaustedError[{cause.__name__}]"
    assert error.curl_code == last.curl_code and error.url == last.url
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is type(error) and str(back) == str(error)
    assert "hunter2" not in repr(pickle.dumps(error))


def test_the_old_timeout_name_still_works_and_warns() -> None:
    with pytest.warns(DeprecationWarning, match="DownloadTimeoutError"):
        old = curlmulti_dl.DownloadTimeout
    assert old is curlmulti_dl.DownloadTimeoutError
    assert "DownloadTimeout" not in curlmulti_dl.__all__
