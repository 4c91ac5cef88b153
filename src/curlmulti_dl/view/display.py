"""What a download shows while it runs, on the command line and for
``download_many(show_progress=True)``. Rich is imported lazily, here and by
``rows.py`` (plain output, for logs and cron jobs, never loads it; its
figures come from ``figures.py``).

Every size and speed is in binary units (KiB, MiB/s). Text that comes from the
user or a server (URLs, file names, messages) is never read as rich markup.
A batch shows its files' notices (fewer connections, a stream, a resume)
only when ``verbose``; one file shows its own; failures always show. Its
total and ETA come from what it expects (``_expected.py``): exact once every
size is known, else a lower bound (``≥``).
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from .._exceptions import DownloadError
from .._expected import ExpectedSizes
from .._progress import DownloadResult, ProgressCallback, ProgressSnapshot, SpeedMeter
from ..files.names import filename_from_url
from .printable import printable

__all__ = [
    "Display",
    "RichDisplay",
    "format_bytes",
    "make_display",
    "make_library_display",
    "plural",
]


def format_bytes(n: float) -> str:
    """``1536`` -> ``'1.5 KiB'``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def summary(result: DownloadResult, to_stdout: bool) -> str:
    if result.skipped:
        return f"nothing to do: {result.path} is already the remote file"
    where = "wrote standard output" if to_stdout else f"saved {result.path}"
    return (
        f"{where} ({format_bytes(result.size)} in {result.elapsed:.2f} s, "
        f"{format_bytes(result.speed)}/s, {plural(result.connections, 'connection')})"
    )


def notice_line(label: str, notice: str) -> str:
    hint = " (see --min-part-size)" if "min_part_size" in notice else ""
    return f"{label}: {notice}{hint}"


class Display:
    """Plain output: a progress line per file every ``interval`` seconds (the
    first once a speed can be told), a notice once, and the outcome."""

    #: What starts the line that tells a failure.
    error_prefix = "curlmulti-dl: error: "

    def __init__(
        self, quiet: bool, interval: float, stream: TextIO, to_stdout: bool, verbose: bool = False
    ) -> None:
        self.quiet = quiet
        self.verbose = verbose  # a batch's files' notices too
        self.interval = interval
        self.stream = stream
        self.to_stdout = to_stdout
        self._started: dict[str, float] = {}
        self._last: dict[str, float] = {}
        self._noticed: set[str] = set()
        self._labels: dict[str, str] = {}
        self._callbacks: dict[str, ProgressCallback | None] = {}  # a batch's files in flight
        self._batch = False  # a batch: rows of finished files are removed
        self.tally = Tally()

    def __enter__(self) -> Display:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def callback(self, url: str, label: str) -> ProgressCallback | None:
        self._labels[url] = label
        if self.quiet:
            return None

        def on_progress(snapshot: ProgressSnapshot) -> None:
            self._maybe_notice(url, snapshot.notice)
            if snapshot.total is not None and snapshot.bytes_done >= snapshot.total:
                return  # finished: the summary line follows
            now = time.monotonic()
            since = self._last.get(url, self._started.setdefault(url, now))
            if now - since >= self.interval:
                self._last[url] = now
                self.line(url, snapshot)

        return on_progress

    def follow(self, expected: ExpectedSizes) -> None:
        """A batch begins: its total comes from ``expected`` (which it updates)."""
        self._batch = True
        self.tally.expected = expected

    def progress(self, snapshot: ProgressSnapshot) -> None:
        """One callback for every file of a batch, by the snapshot's URL: its
        notice once, and every ``interval`` one line for the whole batch."""
        self._batch = True
        url = snapshot.url
        self._labels.setdefault(url, filename_from_url(url))
        self.tally.seen(url, snapshot.bytes_done)
        if self.quiet:
            return
        self._maybe_notice(url, snapshot.notice)
        now = time.monotonic()
        if now - self.tally.last_line >= self.interval:
            self.tally.last_line = now
            self.say(self.tally.line(now))

    def forget(self, url: str) -> None:
        """``url`` is over: what was kept to show it goes (a batch may be long)."""
        for kept in (self._started, self._last, self._labels, self._callbacks):
            kept.pop(url, None)
        self._noticed.discard(url)

    def _maybe_notice(self, url: str, notice: str | None) -> None:
        if self._batch and not self.verbose:
            return  # a line per file would scroll the batch away
        if notice and url not in self._noticed:
            self._noticed.add(url)
            self.say(notice_line(self._labels.get(url, url), notice))

    def say(self, text: str) -> None:
        print(printable(text), file=self.stream, flush=True)

    def line(self, url: str, s: ProgressSnapshot) -> None:
        total = format_bytes(s.total) if s.total is not None else "?"
        # Rounded down: "100%" only once every byte is there.
        percent = f" ({100 * s.bytes_done // s.total}%)" if s.total else ""
        eta = f", ETA {s.eta:.0f} s" if s.eta is not None else ""
        self.say(
            f"{self._labels[url]}: {format_bytes(s.bytes_done)} / {total}{percent}, "
            f"{format_bytes(s.speed)}/s, {plural(s.connections, 'connection')}{eta}"
        )

    def finished(self, url: str, result: DownloadResult) -> None:
        self.tally.finished(url, result.size if not result.skipped else 0)
        if not self.quiet:
            self._maybe_notice(url, result.notice)
            self.say(summary(result, self.to_stdout))
        self.forget(url)

    def failed(self, url: str, exc: DownloadError, kept: str = "") -> None:
        """One line: the error, and ``kept`` (what was left for a later run)."""
        self.tally.failed(url)
        text = printable(str(exc) + kept)
        print(f"{self.error_prefix}{text}", file=self.stream, flush=True)
        self.forget(url)

    def batch_done(self, text: str) -> None:
        """The batch's last line (its summary), unless quiet."""
        if not self.quiet and self._batch:
            self.say(text)


class RichDisplay(Display):
    """A live rich progress display, refreshed ~10 times a second: one row
    per file in flight, and a batch's own row; every row fits the console's
    width (``rows.py``), so none wraps."""

    def __init__(
        self, stream: TextIO, to_stdout: bool, console: Any = None, verbose: bool = False
    ) -> None:
        super().__init__(False, 0.0, stream, to_stdout, verbose)
        from rich.console import Console
        from rich.progress import Progress

        self.console = console if console is not None else Console(file=stream)
        self.bars = Progress(
            _row_column(self._row),
            console=self.console,
            refresh_per_second=10,
            transient=False,
        )
        self._tasks: dict[str, Any] = {}
        self._overall: Any = None  # a batch's row

    def __enter__(self) -> RichDisplay:
        self.bars.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.bars.refresh()  # rich's stop() does not draw the last state in Jupyter
        self.bars.stop()

    def say(self, text: str) -> None:
        from rich.text import Text

        self.bars.console.print(Text(printable(text)), highlight=False, soft_wrap=True)

    def callback(self, url: str, label: str) -> ProgressCallback:
        self._labels[url] = label
        task = self.bars.add_task(label, total=None, state="waiting", speed=0.0, eta=None, conn=0)
        self._tasks[url] = task

        def on_progress(s: ProgressSnapshot) -> None:
            self._maybe_notice(url, s.notice)
            state = "running" if s.connections else "waiting"
            self.bars.update(
                task, completed=s.bytes_done, total=s.total, state=state,
                speed=s.speed, eta=s.eta, conn=s.connections,
            )  # fmt: skip

        return on_progress

    def progress(self, snapshot: ProgressSnapshot) -> None:
        """A batch: one row for the whole of it, one per file in flight."""
        self._batch = True
        url = snapshot.url
        self.tally.seen(url, snapshot.bytes_done)
        if self._overall is None:  # the batch's row first, above its files'
            self._overall = self.bars.add_task("batch", total=None, batch=True)
        if url not in self._callbacks:
            self._callbacks[url] = self.callback(url, filename_from_url(url))
        callback = self._callbacks[url]
        if callback is not None:
            callback(snapshot)
        self._update_overall()

    def _update_overall(self) -> None:
        if self._overall is None:
            self._overall = self.bars.add_task("batch", total=None, batch=True)
        self.bars.update(self._overall, completed=self.tally.bytes())  # (rich's speed)

    def _row(self, task: Any) -> Any:
        """The text of ``task``'s row, in the console's width as it is now."""
        from . import figures, rows

        width = self.console.width
        if task.fields.get("batch"):  # (set before add_task returns its id)
            tally = self.tally
            # (rich's thread draws: the bytes are those the loop last set)
            done, expected = int(task.completed), tally.expected
            labels = rows.batch_labels(tally.done, tally.failures, len(tally.in_flight), expected)
            fields = rows.batch_fields(done, task.speed, expected)
            total, _ = figures.batch_total(done, expected)
            row = rows.fit_row(labels[0], fields, width, shorter=labels[1:])
            return _styled(row, done, total, "")
        state, done, total = task.fields.get("state", "waiting"), int(task.completed), task.total
        total = int(total) if total is not None else None
        if state == "running":
            fields = rows.file_fields(
                done, total, task.fields["speed"], task.fields["eta"], task.fields["conn"]
            )
        elif state == "done":
            speed = figures.speed(task.fields["speed"])
            fields = [rows.Field(figures.bytes_pair(done, total), 17), rows.Field(speed, 12)]
            fields.append(rows.Field("done", 10))
        else:  # waiting, failed: what it is, in the bytes' place, and no bar
            row = rows.fit_row(task.description, [rows.Field(str(state), 17)], width, bar=False)
            return _styled(row, done, total, state)
        return _styled(rows.fit_row(task.description, fields, width), done, total, state)

    def finished(self, url: str, result: DownloadResult) -> None:
        task = self._tasks.pop(url, None)
        self.tally.finished(url, result.size if not result.skipped else 0)
        if task is not None:
            self.bars.update(
                task, completed=result.size, total=result.size, state="done", speed=result.speed
            )
            if self._batch:
                self.bars.remove_task(task)  # only the files in flight keep a row
        self._maybe_notice(url, result.notice)
        if self._batch:
            self._update_overall()  # no line per file: the batch row counts it
        else:
            self.say(summary(result, self.to_stdout))
        self.forget(url)

    def failed(self, url: str, exc: DownloadError, kept: str = "") -> None:
        from rich.text import Text

        self.tally.failed(url)
        if self._batch:
            self._update_overall()
        task = self._tasks.pop(url, None)
        if task is None:  # it failed before its first snapshot
            label = self._labels.get(url) or filename_from_url(url)
            task = self.bars.add_task(label, total=None)
        self.bars.update(task, state="failed")  # failures keep their row, to the end
        self.bars.stop_task(task)
        line = Text(self.error_prefix, style="red")
        line.append(printable(str(exc) + kept))
        self.bars.console.print(line, highlight=False, soft_wrap=True)
        self.forget(url)


def _styled(row: Any, done: int, total: int | None, state: Any) -> Any:
    """``row`` as rich text: a bold name, the bar's done part coloured."""
    from rich.text import Text

    text = Text(row.name, style="bold red" if state == "failed" else "bold", no_wrap=True)
    if row.bar:
        filled = row.bar * done // total if total else 0
        filled = min(row.bar, max(0, filled))
        text.append(" ")
        text.append("━" * filled, style="bar.complete")
        text.append("━" * (row.bar - filled), style="bar.back")
    text.append(row.fields, style="red" if state == "failed" else "")
    return text


class Tally:
    """A batch as the display counts it: files done and failed, bytes of
    the finished files and of those in flight (kept only while in flight),
    and what the batch expects (once it is followed)."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.last_line = self.started
        self.done = 0
        self.failures = 0
        self.finished_bytes = 0
        self.in_flight: dict[str, int] = {}
        self.expected: ExpectedSizes | None = None
        self._meter = SpeedMeter(window=10.0)
        self._meter.add(self.started, 0)

    def seen(self, url: str, bytes_done: int) -> None:
        self.in_flight[url] = bytes_done

    def finished(self, url: str, size: int) -> None:
        self.in_flight.pop(url, None)
        self.done += 1
        self.finished_bytes += size

    def failed(self, url: str) -> None:
        self.in_flight.pop(url, None)
        self.failures += 1

    def bytes(self) -> int:
        return self.finished_bytes + sum(self.in_flight.values())

    def line(self, now: float) -> str:
        from . import figures

        moved = self.bytes()
        speed = self._meter.add(now, moved)
        total, bound = figures.batch_total(moved, self.expected)
        files = figures.file_count(self.done, self.failures, len(self.in_flight), self.expected)
        left = ""
        if total is not None and speed > 0 and total > moved:
            left = f", ETA {'≥' if bound else ''}{figures.duration((total - moved) / speed)}"
        return (
            f"batch: {files} file{'' if files == '1' else 's'} done, "
            f"{self.failures} failed, {len(self.in_flight)} in flight; "
            f"{figures.bytes_pair(moved, total, bound)} at {format_bytes(speed)}/s{left}"
        )


def _row_column(render: Any) -> Any:
    """The one column of the live display: each row drawn whole by ``render``
    (rich's own columns share widths across rows, and wrap when they meet)."""
    from rich.progress import ProgressColumn, Task
    from rich.table import Column

    class RowColumn(ProgressColumn):
        def render(self, task: Task) -> Any:
            return render(task)

    return RowColumn(table_column=Column(no_wrap=True, overflow="crop"))


def make_display(quiet: bool, interval: float, to_stdout: bool, verbose: bool = False) -> Display:
    if not quiet and sys.stderr.isatty():
        return RichDisplay(sys.stderr, to_stdout, verbose=verbose)
    return Display(quiet, interval, sys.stderr, to_stdout, verbose)


def make_library_display(interval: float = 5.0) -> Display:
    """The display ``download_many(show_progress=True)`` asks for: rich's live
    one on a terminal or in a Jupyter cell (an ipywidgets output, updated in
    place), else a batch line every ``interval`` seconds on stderr."""
    from rich.console import Console

    console = Console(file=sys.stderr)
    if console.is_terminal or console.is_jupyter:
        display: Display = RichDisplay(sys.stderr, False, console)
    else:
        display = Display(False, interval, sys.stderr, False)
    display.error_prefix = "failed: "
    return display
