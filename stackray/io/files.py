"""Whole files that must survive a crash: written atomically (fsynced where a crash must not lose them),
read whole, hashed; and `DataError`, the error that names the file, line and field of a bad record.

Part of stackray.io (import from there); why these live together is said in its docstring.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, BinaryIO, Callable

FILE_MODE = 0o600


class DataError(ValueError):
    """A bad record in a file or data source; ``path``, ``line`` (1-based) and ``field`` say where.

    ``line`` is None for a problem with the whole source, and ``field`` is None when the line itself
    is broken (bad JSON, not an object). It pickles with its attributes (``__reduce__``), because Ray
    rebuilds an exception raised in an actor by pickling it: without that the user would get Ray's
    "unserializable exception" instead of the one line that says where to look.
    """

    def __init__(self, path: str | Path, line: int | None, field: str | None, problem: str) -> None:
        self.path = str(path)
        self.line = line
        self.field = field
        self.problem = problem
        what = f"field '{field}': " if field is not None else ""
        super().__init__(f"{where(self.path, line)}: {what}{problem}")

    def __reduce__(self):
        return type(self), (self.path, self.line, self.field, self.problem)


def where(path: str | Path, line: int | None) -> str:
    """`file:line` (or just `file`), the prefix of every message about a place in a file."""
    return str(path) if line is None else f"{path}:{line}"


def fsync_dir(path: str | Path) -> None:
    """Make a directory's entries durable (a new or renamed file is otherwise lost by a crash)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: str | Path, write: Callable[[BinaryIO], Any], *, durable: bool = True) -> None:
    """Write a file through `write(fh)` into a temp file, then rename it over `path`: readers see the
    old file or the new one, never a part. `durable` also fsyncs the data and the directory, so the new
    file survives a crash (pass False only for what can be recomputed, such as cache entries)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # created 0600
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if durable:
        fsync_dir(path.parent)


def atomic_write_bytes(path: str | Path, data: bytes, *, durable: bool = True) -> None:
    atomic_write(path, lambda fh: fh.write(data), durable=durable)


def atomic_write_text(path: str | Path, text: str, *, durable: bool = True) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), durable=durable)


def atomic_write_dir(path: str | Path, fill: Callable[[Path], Any]) -> None:
    """Create or replace the folder `path` with what `fill(tmp_dir)` writes there: every file is made
    FILE_MODE and fsynced, then the folder is swapped in by rename. A reader sees the old folder or the
    new one, never a mix: on Linux the two are exchanged atomically (renameat2 RENAME_EXCHANGE); where
    that is missing, the old folder is renamed aside first, so a crash in between leaves it beside
    `path` as `.NAME.old-*` (`restore_dir` puts it back)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    try:
        fill(tmp)
        for f in sorted(tmp.rglob("*")):
            if f.is_file():
                f.chmod(FILE_MODE)
                with open(f, "rb") as fh:
                    os.fsync(fh.fileno())
        fsync_dir(tmp)
        if not path.exists():
            os.rename(tmp, path)
        elif _exchange(tmp, path):
            shutil.rmtree(tmp)  # now the old folder
        else:
            old = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.old-"))
            os.replace(path, old)
            os.rename(tmp, path)
            fsync_dir(path.parent)
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    fsync_dir(path.parent)


def restore_dir(path: str | Path) -> bool:
    """Undo a folder replacement cut between its two renames (see `atomic_write_dir`); True if it did."""
    path = Path(path)
    if path.exists():
        return False
    olds = sorted(path.parent.glob(f".{path.name}.old-*"))
    if not olds:
        return False
    os.rename(olds[-1], path)
    fsync_dir(path.parent)
    return True


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2 RENAME_EXCHANGE); False where that is not available."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    return renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


def file_sha256(path: str | Path) -> str:
    """sha256 (hex) of a file's bytes, read in blocks (model weights do not fit a read() comfortably)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def read_bytes(path: str | Path) -> bytes:
    """A file's bytes, or b"" when it does not exist yet (a queue nobody has written to)."""
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        return b""
