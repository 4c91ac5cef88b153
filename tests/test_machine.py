"""A file's state machine on its own: events in, actions out, no loop, no
network (the transfers are real easy handles that are never performed)."""

from __future__ import annotations

from pathlib import Path

import pycurl

from curlmulti_dl import DownloadTimeout, RetriesExhaustedError, RetryPolicy
from curlmulti_dl._config import DownloadOptions
from curlmulti_dl._policy import RebalancePolicy
from curlmulti_dl.job import actions as act
from curlmulti_dl.job.machine import FileMachine
from curlmulti_dl.job.rangebook import RangeBook
from curlmulti_dl.job.state import DownloadState
from curlmulti_dl.protocol.urls import parse_origin

URL = "http://127.0.0.1:9/f.bin"


class Memory:
    """A writer into memory (the machine never writes; its transfers would)."""

    def __init__(self) -> None:
        self.data = bytearray()

    def write_at(self, data: memoryview, offset: int) -> None:
        self.data[offset : offset + len(data)] = data


def machine(**options: object) -> FileMachine:
    opts = DownloadOptions(**options)  # type: ignore[arg-type]
    book = RangeBook(URL, False, opts, None, RebalancePolicy())
    return FileMachine(URL, parse_origin(URL), Path("f.bin"), opts, book)


def kinds(actions: list[act.Action]) -> list[type]:
    return [type(a) for a in actions]


def no_probe(transfer: object, probe: object) -> int | None:
    raise AssertionError("no answer comes: nothing is performed")


def test_a_stop_before_any_slot_is_one_stop_action_and_only_one() -> None:
    m = machine()
    error = DownloadTimeout("gave up", url=URL)
    assert m.fail(error) == [act.Stop(error, keep=False, probe=None)]
    assert m.state is DownloadState.FAILED
    assert m.fail(error) == []  # over: nothing more to do


def test_no_transfer_before_the_file_is_opened() -> None:
    m = machine()
    assert m.start_transfer(no_probe, lambda: 0) == (None, [])
    assert m.state is DownloadState.QUEUED


def test_failed_first_requests_are_retried_until_the_budget_is_spent() -> None:
    m = machine(retry=RetryPolicy(attempts=2))
    m.storage_opened(Memory(), None)
    for attempt in range(3):
        transfer, actions = m.start_transfer(no_probe, lambda: 0)
        assert transfer is not None and actions == []
        assert m.state is DownloadState.PROBING
        assert (transfer.start, transfer.end) == (0, None)  # the first request: all of it
        done = m.transfer_done(transfer, pycurl.E_COULDNT_CONNECT, "connection refused")
        transfer.close()
        if attempt < 2:
            assert kinds(done) == [act.RetryAfter]
            retry = done[0]
            assert isinstance(retry, act.RetryAfter)
            assert retry.rest is None and retry.delay > 0  # the first request, after a back-off
            assert m.retry_due(retry.rest)
            assert m.state is DownloadState.QUEUED
            assert m.wants_connection()
        else:
            # The ended transfer is still the file's: it is retired with the rest.
            assert done[:-1] == [act.Retire(transfer)]
            stop = done[-1]
            assert isinstance(stop, act.Stop)
            assert isinstance(stop.error, RetriesExhaustedError)
            assert not stop.keep  # nothing of a known file is on disk
    assert not m.retry_due(None)  # a back-off that runs out after the end changes nothing


def test_the_time_limit_stops_the_file_on_the_tick() -> None:
    m = machine(max_time=1.0)
    m.storage_opened(Memory(), None)
    transfer, _ = m.start_transfer(no_probe, lambda: 0)
    assert transfer is not None
    assert kinds(m.tick(m.started_at + 0.5)) == [act.ReportProgress]
    actions = m.tick(m.started_at + 1.5)
    assert kinds(actions) == [act.Retire, act.Stop]
    assert actions[0] == act.Retire(transfer)
    stop = actions[1]
    assert isinstance(stop, act.Stop) and isinstance(stop.error, DownloadTimeout)
    transfer.close()
