"""Durable append-only JSON-lines files: the one storage format of labels, requests and answers.

Why a helper of its own: the ledger, the annotators' request queue and their answers all need the
same three guarantees, and they are easy to get subtly wrong more than once:

- a line is written with ONE `os.write` on an `O_APPEND` descriptor and `os.fsync`ed before the
  writer returns, so a reader (or a restarted process) sees whole lines, and a line the writer
  returned is on disk;
- a crash can leave at most one torn line, and only at the end of the file (its last byte is not a
  newline, or it is not valid JSON); anything malformed *before* the end is corruption and must be
  reported (file, line), never skipped;
- one process owns a file it appends to (an exclusive `flock`), so two coordinators can never
  spend from the same ledger at once. The kernel drops the lock when its holder dies, SIGKILL
  included, so a restarted process is never locked out by a crashed one.
"""

from __future__ import annotations

import fcntl
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

from stackray.data.jsonl import DataError


class TornLineWarning(UserWarning):
    """A file ended in a partial line (a crash mid-write) and that line was set aside."""


class FileLockedError(RuntimeError):
    """Another live process holds the file open for appending (two writers would double-spend)."""


@dataclass(frozen=True)
class RawLine:
    """One newline-terminated line of a JSON-lines file, before it is parsed."""

    lineno: int  # 1-based
    offset: int  # byte offset of the line's first byte
    text: bytes  # without the trailing newline


def split_lines(data: bytes) -> tuple[list[RawLine], RawLine | None]:
    """Split a file's bytes into its newline-terminated lines and a final unterminated chunk.

    The chunk (None when the file ends with a newline or is empty) is what a writer interrupted in
    the middle of its `write` leaves behind; the caller decides whether it is torn or complete.
    """
    lines: list[RawLine] = []
    start = 0
    lineno = 1
    while True:
        end = data.find(b"\n", start)
        if end < 0:
            break
        lines.append(RawLine(lineno, start, data[start:end]))
        start = end + 1
        lineno += 1
    tail = RawLine(lineno, start, data[start:]) if start < len(data) else None
    return lines, tail


def try_parse_object(text: bytes) -> dict | None:
    """The JSON object on a line, or None when the line is not a JSON object (torn or garbage).

    A proper prefix of a one-line JSON object is never itself a valid JSON object (the outer brace
    closes last), so a line that parses is a complete record even when its newline is missing.
    """
    try:
        obj = json.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return obj if isinstance(obj, dict) else None


@dataclass(frozen=True)
class Scan:
    """A JSON-lines file read whole: its objects, and what a crash may have left at its end."""

    objects: list[tuple[int, dict]]  # (1-based line number, object), blank lines skipped
    torn: RawLine | None  # the torn last line, to be cut (by the owner) or ignored (by readers)
    missing_newline: bool  # the last kept line is complete but lacks its newline
    n_lines: int  # lines kept, blank ones included


def scan_objects(path: Path, data: bytes, *, terminated_may_be_torn: bool = True) -> Scan:
    """Parse a JSON-lines file in which only the last line may be torn; any other bad line raises.

    An unterminated last chunk that is not a JSON object is torn. A newline-terminated last line that
    is not a JSON object counts as torn too when `terminated_may_be_torn` (files only this package
    writes, where such a line can only come from a crash); files people may edit by hand pass False,
    so their mistakes are reported rather than dropped.
    """
    lines, tail = split_lines(data)
    torn: RawLine | None = None
    missing_newline = False
    if tail is not None:
        if try_parse_object(tail.text) is None:
            torn = tail
        else:
            lines.append(tail)  # a complete record whose newline never made it: keep it
            missing_newline = True
    elif terminated_may_be_torn and lines and lines[-1].text.strip() and try_parse_object(lines[-1].text) is None:
        torn = lines.pop()
    objects: list[tuple[int, dict]] = []
    for line in lines:
        if not line.text.strip():
            continue
        obj = try_parse_object(line.text)
        if obj is None:
            preview = line.text[:60].decode("utf-8", "replace")
            raise DataError(
                path, line.lineno, None,
                f"not a JSON object ({preview!r}); only a file's last line can be a torn write, "
                "so this line is corrupt: repair it by hand",
            )
        objects.append((line.lineno, obj))
    return Scan(objects, torn, missing_newline, len(lines))


def warn_torn(path: Path, torn: RawLine, consequence: str, stacklevel: int = 3) -> None:
    """Tell the user a torn last line was set aside: which file, which line, what it held, what follows."""
    preview = torn.text[:60].decode("utf-8", "replace")
    warnings.warn(
        f"{where(path, torn.lineno)}: torn last line (a write cut short by a crash): {preview!r}; {consequence}",
        TornLineWarning,
        stacklevel=stacklevel,  # point at the caller that opened the file
    )


def encode_line(obj: dict) -> bytes:
    """One compact JSON line with its newline; NaN/inf are refused so every reader can parse it."""
    return (json.dumps(obj, separators=(", ", ": "), allow_nan=False) + "\n").encode("utf-8")


def fsync_dir(path: Path) -> None:
    """Make a newly created file's directory entry durable (else a crash can lose the whole file)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_bytes(path: Path) -> bytes:
    """A file's bytes, or b"" when it does not exist yet (a queue nobody has written to)."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return b""


class AppendFile:
    """An exclusively locked, append-only file descriptor: read it whole, repair its tail, append lines.

    `blocking=False` (the owner of a ledger or a request queue) fails fast with FileLockedError when
    another process holds the file; `blocking=True` (annotators adding answers) waits its turn.
    """

    def __init__(self, path: str | os.PathLike, *, blocking: bool = False) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        created = not self.path.exists()
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(self._fd)
            raise FileLockedError(
                f"{self.path}: already open for writing in another live process; "
                "two writers on one file could pay for a label twice"
            ) from None
        if created:
            fsync_dir(self.path.parent)

    @property
    def closed(self) -> bool:
        return self._fd < 0

    def read_all(self) -> bytes:
        """The whole file as it is now."""
        self._check_open()
        size = os.fstat(self._fd).st_size
        return os.pread(self._fd, size, 0) if size else b""

    def truncate(self, size: int) -> None:
        """Cut the file to `size` bytes (dropping a torn tail) and make the cut durable."""
        self._check_open()
        os.ftruncate(self._fd, size)
        os.fsync(self._fd)

    def append_raw(self, data: bytes) -> None:
        """Append bytes in one write and fsync before returning."""
        self._check_open()
        written = os.write(self._fd, data)
        while written < len(data):  # regular files complete short writes only on odd filesystems
            written += os.write(self._fd, data[written:])
        os.fsync(self._fd)

    def append(self, obj: dict) -> None:
        """Append one JSON line; it is on disk when this returns."""
        self.append_raw(encode_line(obj))

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # also releases the flock
            self._fd = -1

    def _check_open(self) -> None:
        if self._fd < 0:
            raise ValueError(f"{self.path}: file is closed")

    def __enter__(self) -> "AppendFile":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:  # pragma: no cover - best effort
        try:
            self.close()
        except Exception:
            pass


# Where a problem is: (file or context, 1-based line or None). Errors are `stackray.data.DataError`s,
# the project's one ValueError that names path, line and field, with those as attributes.
At = tuple["str | Path", "int | None"]


def where(path: Path, lineno: int) -> str:
    """`file:line` prefix of a message about a line, so the user can open it and look."""
    return f"{path}:{lineno}"


def int_field(obj: dict, name: str, at: At, *, minimum: int = 0, below: int | None = None) -> int:
    """obj[name] as an int in [minimum, below), or a DataError naming place and field."""
    if name not in obj:
        raise DataError(*at, name, "missing")
    value = obj[name]
    if isinstance(value, bool) or not isinstance(value, int):
        raise DataError(*at, name, f"must be an integer, got {value!r}")
    if value < minimum or (below is not None and value >= below):
        hi = f", < {below}" if below is not None else ""
        raise DataError(*at, name, f"{value} is out of range (>= {minimum}{hi})")
    return value


def str_field(obj: dict, name: str, at: At) -> str:
    """obj[name] as a string, or a DataError naming place and field."""
    if name not in obj:
        raise DataError(*at, name, "missing")
    value = obj[name]
    if not isinstance(value, str):
        raise DataError(*at, name, f"must be a string, got {value!r}")
    return value
