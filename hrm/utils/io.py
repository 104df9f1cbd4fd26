"""Atomic file writes: a reader (or a crash, or `kill -9`) never sees half a file.

Every file is written under a temporary name in the target's own directory (never in TMPDIR: a rename
across filesystems is a copy, which a kill can cut short), flushed to disk, then renamed over the
target; the directory is flushed too, so the new name survives a power cut.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

TMP_SUFFIX = ".tmp"


def temporary_name_for(path: Path) -> str:
    """The prefix of the temporary files written for `path` (`.<name>.<random>.tmp`, hidden, beside it)."""
    return f".{path.name}."


def fsync_file(path: str | os.PathLike) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: str | os.PathLike) -> None:
    """Make a rename in `path` durable (a no-op where directories cannot be opened)."""
    with contextlib.suppress(OSError):
        fsync_file(path)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, mode: int = 0o644) -> Iterator[Path]:
    """A temporary path beside `path` to write to; it replaces `path` only when the block completes (and
    is removed if it fails), so a reader never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=temporary_name_for(path), suffix=TMP_SUFFIX, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, mode)  # mkstemp makes it private; the result is a file like any other
        fsync_file(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, data: Any) -> Path:
    return atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files a killed write left in `folder` (only ours: `.<name>.<random>.tmp`, and
    the `.<name>.<random>.tmp` dirs of `replace_dir`); returns what was removed."""
    import shutil

    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for stale in folder.glob(f".*{TMP_SUFFIX}"):
        if stale.is_symlink() or stale.is_file():
            stale.unlink(missing_ok=True)
        elif stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
        removed.append(stale)
    return removed


def replace_dir(target: Path, write: Callable[[Path], None]) -> None:
    """Call `write(tmp_dir)` on a fresh dir beside `target`, flush it to disk, then put it at `target`.

    A dir cannot be renamed over a non-empty one, so an older `target` is first renamed to `.<name>.old`
    and removed only after the new one is in place; a kill between the two renames leaves the old one
    there, and the next call (or `recover_replaced_dir`) puts it back."""
    import shutil

    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    recover_replaced_dir(target)
    fresh = Path(tempfile.mkdtemp(prefix=temporary_name_for(target), suffix=TMP_SUFFIX, dir=target.parent))
    try:
        write(fresh)
        fresh.chmod(0o755)  # mkdtemp makes it private; the result is a dir like any other
        for file in fresh.rglob("*"):
            if file.is_file():
                file.chmod(0o644)
                fsync_file(file)
        fsync_dir(fresh)
    except BaseException:
        shutil.rmtree(fresh, ignore_errors=True)
        raise
    old = target.with_name(f".{target.name}.old")
    if target.exists():
        shutil.rmtree(old, ignore_errors=True)
        target.rename(old)
    fresh.rename(target)
    fsync_dir(target.parent)
    shutil.rmtree(old, ignore_errors=True)


def recover_replaced_dir(target: Path) -> None:
    """Put back a dir that a kill left renamed aside by `replace_dir`."""
    target = Path(target)
    old = target.with_name(f".{target.name}.old")
    if old.is_dir() and not target.exists():
        old.rename(target)
