"""A batch's output paths stay inside its directory.

An item's ``dest`` (an ``-i`` list's ``dir=`` and ``out=``, a listing's
subdirectories) is input the user did not write by hand: lists come from
catalog queries, names from servers. So a ``dest`` that is absolute or has
``..`` parts is refused, and so is a path that leads out of the directory
through a symbolic link (the directory itself may be one). The check looks
at the parts that exist (one ``lstat`` each; ``realpath`` only where one is
a link) and changes nothing; ``make_parents`` then creates what is missing,
mode by umask, as ``wget -P`` and ``aria2c -d`` do.

Example::

    output_path(Path("/data"), "sub/a.nc", url)    # /data/sub/a.nc
    output_path(Path("/data"), "../a.nc", url)     # UnsafePathError
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .._exceptions import StorageError, UnsafePathError
from .names import filename_from_url, without_controls

__all__ = ["make_parents", "output_path", "relative_dest"]

Dest = str | os.PathLike[str] | None


def output_path(base: Path, dest: Dest, url: str) -> Path:
    """Where an item goes below ``base``: ``dest`` (a file, or a directory
    when it ends in a separator or is one), or the URL's file name in
    ``base`` (worked out only then: a listed file's ``dest`` names it).
    Raises ``UnsafePathError`` for a path that would leave ``base``, and
    ``StorageError`` for one that cannot be looked at (too long, no access)."""
    if dest is None:
        relative = Path(filename_from_url(url))
    else:
        text = os.fspath(dest)
        relative = relative_dest(text, url)
        if text.endswith(os.sep) or text in ("", ".") or (base / relative).is_dir():
            relative = relative / filename_from_url(url)
    _check_inside(base, relative, url)
    return base / relative


def relative_dest(text: str, url: str) -> Path:
    """``text`` as a path below the batch's directory; ``UnsafePathError``
    for one that is absolute or goes up."""
    relative = Path(text)
    if relative.is_absolute():
        raise UnsafePathError(
            f"{text!r} is an absolute path; an item's directory and name stay below "
            "the batch's directory (-d)",
            url=url,
        )
    if ".." in relative.parts:
        raise UnsafePathError(
            f"{text!r} goes up with '..'; an item's directory and name stay below "
            "the batch's directory (-d)",
            url=url,
        )
    # A list is input too: its names lose control characters as a server's do.
    return Path(*(without_controls(part) for part in relative.parts))


def _check_inside(base: Path, relative: Path, url: str) -> None:
    # Each part below base that exists is looked at (one lstat for a new
    # file in base); only a symbolic link costs a realpath of both ends. The
    # parts still to be made have no links. A check, then a use: a link
    # planted in between is the opener's to refuse (NAME.part is opened
    # without following links).
    current = base
    for part in relative.parts:
        current = current / part
        try:
            mode = os.lstat(current).st_mode
        except (FileNotFoundError, NotADirectoryError):
            return  # nothing there yet (making it says what stands in the way)
        except OSError as exc:
            raise StorageError(
                f"cannot examine {current}: {exc.strerror or exc}", url=url
            ) from None
        if stat.S_ISLNK(mode):
            break
    else:
        return
    path = base / relative
    try:
        real_base = os.path.realpath(base)
        real = os.path.realpath(path)
    except (OSError, ValueError) as exc:
        raise StorageError(f"cannot resolve {path}: {exc}", url=url) from None
    if os.path.commonpath([real_base, real]) != real_base:
        raise UnsafePathError(
            f"{path} leads out of {base} through a symbolic link (to {real})", url=url
        )


def make_parents(path: Path, url: str) -> None:
    """Create the directories above ``path`` that are missing."""
    parent = path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise StorageError(
            f"cannot make directory {parent}: a file that is not a directory stands in its way",
            url=url,
        ) from None
    except OSError as exc:
        raise StorageError(
            f"cannot make directory {parent}: {exc.strerror or exc}", url=url
        ) from None
