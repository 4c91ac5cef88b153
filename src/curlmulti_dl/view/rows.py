"""The live display's rows as text that fits a width in terminal cells
(rich's measure: a wide character takes two), so that a row never wraps.
Pure: names and numbers in, text out (property-tested).

A row is a name (cut in the middle, ``…``, when it does not fit), an
optional bar, and fields of fixed widths, right-aligned so that rows line
up. The narrower the terminal, the more of the row goes, in this order: the
bar, then fields from the last; the name keeps at least ``NAME_MIN`` cells
while a field goes for it, and the first field (the bytes) stays.

Example::

    fit_row("HS_H09_..._S0110.DAT", file_fields(335_000, 540_000, 1e6, 12.0, 8), 80)
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from rich.cells import cell_len, get_character_cell_size, set_cell_size

from .._expected import ExpectedSizes
from .figures import batch_total, bytes_pair, duration, file_count, speed

__all__ = [
    "Field",
    "Row",
    "batch_fields",
    "batch_labels",
    "cut_middle",
    "file_fields",
    "fit_row",
    "masked",
]

NAME_MIN = 12  # a name keeps this much while a field can go instead
NAME_BEFORE_BAR = 24  # a bar only where the name still gets this much
BAR_MIN, BAR_MAX = 8, 20
GAP = "  "  # before each field
_UNSHOWN = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


@dataclass(frozen=True)
class Field:
    """A piece of the row right of the name, padded on the left to ``cells``."""

    text: str
    cells: int = 0

    def drawn(self) -> str:
        """The gap, then the text right-aligned in its cells."""
        return GAP + " " * max(0, self.cells - cell_len(self.text)) + self.text


@dataclass(frozen=True)
class Row:
    """A fitted row: ``name`` padded to its room, ``bar`` cells (0: none),
    ``fields`` as drawn (each with its gap); ``plain`` is the whole row."""

    name: str
    bar: int
    fields: str

    @property
    def plain(self) -> str:
        bar = " " + "-" * self.bar if self.bar else ""
        return f"{self.name}{bar}{self.fields}"


def masked(text: str) -> str:
    """``text`` with what a terminal would act on or cannot show (control
    and format characters, surrogates, line separators) as ``?``: in a row,
    one cell each (``printable.printable`` escapes them in lines instead)."""
    if text.isprintable():
        return text
    return "".join("?" if unicodedata.category(c) in _UNSHOWN else c for c in text)


def _head(text: str, cells: int) -> str:
    """The longest start of ``text`` within ``cells`` cells."""
    used = count = 0
    for char in text:
        width = get_character_cell_size(char)
        if used + width > cells:
            break
        used += width
        count += 1
    head = text[:count]
    while head and cell_len(head) > cells:  # (joined sequences may measure wider)
        head = head[:-1]
    return head


def _tail(text: str, cells: int) -> str:
    return _head(text[::-1], cells)[::-1]


def cut_middle(text: str, cells: int) -> str:
    """``text`` in at most ``cells`` cells: its middle becomes ``…`` when it
    does not fit (both ends of a file name say the most: its kind and its
    segment, band or date)."""
    if cell_len(text) <= cells:
        return text
    if cells <= 1:
        return "…"[:cells]
    room = cells - 1
    head = _head(text, (room + 1) // 2)
    tail = _tail(text, room - cell_len(head))
    return f"{head}…{tail}"


def fit_row(
    name: str, fields: Sequence[Field], width: int, bar: bool = True, shorter: Sequence[str] = ()
) -> Row:
    """``name`` and ``fields`` in at most ``width`` cells; where ``name`` would
    be cut, the first of ``shorter`` (shorter ways to say it) that fits."""
    name = masked(name)
    kept = list(fields)
    drawn = [f.drawn() for f in kept]
    need = sum(cell_len(d) for d in drawn)
    # A field goes while the name would get less than NAME_MIN, but the first stays.
    while len(kept) > 1 and width - need < min(NAME_MIN, cell_len(name)):
        kept.pop()
        need -= cell_len(drawn.pop())
    if need > width:  # narrower than the first field: no name, the field's end cut
        return Row("", 0, set_cell_size(kept[0].text, max(0, width)))
    room = width - need
    bar_cells = min(BAR_MAX, room - 1 - NAME_BEFORE_BAR) if bar else 0
    if bar_cells < BAR_MIN:
        bar_cells = 0
    room -= bar_cells + 1 if bar_cells else 0
    if cell_len(name) > room:
        name = next((masked(s) for s in shorter if cell_len(masked(s)) <= room), name)
    return Row(set_cell_size(cut_middle(name, room), room), bar_cells, "".join(drawn))


def file_fields(
    done: int, total: int | None, rate: float | None, eta: float | None, connections: int
) -> list[Field]:
    """A file in flight: bytes, speed, time left, connections."""
    fields = [Field(bytes_pair(done, total), 17), Field(speed(rate), 12)]
    fields.append(Field(f"ETA {duration(eta)}" if eta is not None else "", 10))
    fields.append(Field(f"{connections} conn", 7))
    return fields


def batch_labels(
    done: int, failed: int, in_flight: int, expected: ExpectedSizes | None
) -> list[str]:
    """``batch 12/60 done, 1 failed, 8 in flight`` (``/≥60`` while more files
    may come), then shorter ways to say it, the failures kept longest."""
    files = file_count(done, failed, in_flight, expected)
    failures = f", {failed} failed" if failed else ""
    return [
        f"batch {files} done{failures}, {in_flight} in flight",
        f"{files} done{failures}, {in_flight} in flight",
        f"{files} done{failures}",
        f"{files}{failures}",
    ]


def batch_fields(done: int, rate: float | None, expected: ExpectedSizes | None) -> list[Field]:
    """The whole batch: bytes of the total (a lower bound while sizes are
    still unknown: ``≥``), speed, time left at that speed."""
    total, bound = batch_total(done, expected)
    fields = [Field(bytes_pair(done, total, bound), 17), Field(speed(rate), 12)]
    if total is not None and rate and total > done:
        fields.append(Field(f"ETA {'≥' if bound else ''}{duration((total - done) / rate)}", 10))
    return fields
