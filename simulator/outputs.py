"""Output files of every `mcusim` command: checked before a long run, written atomically.

A report file is either complete or absent: it is written to a temporary file in the same folder
and renamed over the target (`os.replace`), so an interrupted or failed write never leaves half a
JSON behind. `check_outputs` runs before the simulation starts, so an unwritable path is reported
at once rather than after minutes of simulation, and at most one report may go to stdout ('-').
"""
from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from pathlib import Path
from typing import Iterable, Iterator


class OutputError(Exception):
    """An output path that cannot be written (reported as bad input, naming the option)."""


def check_writable(path: str, option: str) -> None:
    """Raise OutputError unless `path` ('-' = stdout) can be created or replaced."""
    if path == "-":
        return
    if not path:
        raise OutputError(f"{option}: empty file name")
    target = Path(path)
    if target.is_dir():
        raise OutputError(f"{option} {path}: is a directory")
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.exists():
        raise OutputError(f"{option} {path}: folder {folder} does not exist")
    if not folder.is_dir():
        raise OutputError(f"{option} {path}: {folder} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"{option} {path}: folder {folder} is not writable")
    if target.exists() and not os.access(target, os.W_OK):
        raise OutputError(f"{option} {path}: file is read-only")


def check_outputs(outputs: Iterable[tuple[str, str | None]]) -> None:
    """Check every (option, path) given; refuse two of them on stdout ('-')."""
    given = [(opt, path) for opt, path in outputs if path is not None]
    on_stdout = [opt for opt, path in given if path == "-"]
    if len(on_stdout) > 1:
        raise OutputError(f"{' and '.join(on_stdout)}: only one report can go to stdout ('-'); "
                          "write the others to files")
    for opt, path in given:
        check_writable(path, opt)


def write_atomic(path: str, data: str | bytes, option: str = "") -> None:
    """Write `data` to `path` ('-' = stdout) through a temporary file and a rename."""
    if path == "-":
        if isinstance(data, bytes):
            sys.stdout.flush()
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
        else:
            sys.stdout.write(data)
            sys.stdout.flush()
        return
    target = Path(path)
    label = f"{option} {path}" if option else path
    folder = target.parent if str(target.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise OutputError(f"{label}: cannot write ({exc.strerror})") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
        mode = target.stat().st_mode & 0o777 if target.exists() else 0o666 & ~_umask()
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except OSError as exc:
        _remove(tmp)
        raise OutputError(f"{label}: cannot write ({exc.strerror})") from None
    except BaseException:
        _remove(tmp)
        raise


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str, option: str = "") -> Iterator[str]:
    """A temporary path (same folder and suffix) for a writer that wants a file name; renamed over
    `path` when the block succeeds, removed when it fails."""
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    label = f"{option} {path}" if option else path
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=target.suffix, dir=folder)
        os.close(fd)
    except OSError as exc:
        raise OutputError(f"{label}: cannot write ({exc.strerror})") from None
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    except OSError as exc:
        _remove(tmp)
        raise OutputError(f"{label}: cannot write ({exc.strerror})") from None
    except BaseException:
        _remove(tmp)
        raise


# Formats matplotlib's Agg backend writes (the suffix picks the format).
PLOT_SUFFIXES = (".png", ".pdf", ".svg", ".svgz", ".eps", ".ps", ".jpg", ".jpeg", ".tif", ".tiff", ".webp",
                 ".gif", ".pgf", ".raw", ".rgba")


def check_plot_path(path: str, option: str = "--plot") -> None:
    suffix = Path(path).suffix.lower()
    if suffix not in PLOT_SUFFIXES:
        raise OutputError(f"{option} {path}: unknown image format {suffix or '(no suffix)'!r}; use one of "
                          f"{', '.join(s[1:] for s in PLOT_SUFFIXES)}")
