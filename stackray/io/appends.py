"""JSON-lines files appended to by one owner (ledgers, request queues, answers), and the lock that makes
it one owner. Part of stackray.io (import from there).

- a line is written with ONE `os.write` on an `O_APPEND` descriptor and `os.fsync`ed before the writer
  returns, so a reader sees whole lines and a line the writer returned is on disk;
- a crash can leave at most one torn line, and only at the very end: a final chunk WITHOUT a newline
  that is not valid JSON. That is the one crash signature; anything malformed before it, or a
  malformed line that does end in a newline, is corruption and is reported (file, line), never skipped;
- one process owns a file it appends to (an exclusive `flock`), so two writers can never spend from
  one ledger. The kernel drops the lock when its holder dies, SIGKILL included.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from stackray.io.files import FILE_MODE, DataError, fsync_dir, where


@dataclass(frozen=True)
class RawLine:
    """One line of a JSON-lines file, before it is parsed."""

    lineno: int  # 1-based
    offset: int  # byte offset of the line's first byte
    text: bytes  # without the trailing newline


def split_lines(data: bytes) -> tuple[list[RawLine], RawLine | None]:
    """A file's newline-terminated lines, and its final unterminated chunk (None when there is none).

    The chunk is what a writer interrupted in the middle of its `write` leaves behind; the caller
    decides whether it is torn or a complete record that only lacks its newline.
    """
    lines: list[RawLine] = []
    start = 0
    while (end := data.find(b"\n", start)) >= 0:
        lines.append(RawLine(len(lines) + 1, start, data[start:end]))
        start = end + 1
    tail = RawLine(len(lines) + 1, start, data[start:]) if start < len(data) else None
    return lines, tail


def decode_line(path: str | Path, line: RawLine) -> Any:
    """The JSON value on a line, or a DataError naming file and line (bad UTF-8, bad JSON)."""
    try:
        text = line.text.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(path, line.lineno, None, f"not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(path, line.lineno, None, f"invalid JSON: {exc.msg} (column {exc.colno})") from None


def is_object(text: bytes) -> bool:
    """Whether a line holds one JSON object. A proper prefix of a one-line JSON object never does (the
    outer brace closes last), so an unterminated chunk that parses is a complete record."""
    try:
        return isinstance(json.loads(text.decode("utf-8")), dict)
    except (UnicodeDecodeError, ValueError):
        return False


@dataclass(frozen=True)
class Scan:
    """A JSON-lines file read whole: its objects, and what a crash may have left at its end."""

    objects: list[tuple[int, dict]]  # (1-based line number, object), blank lines skipped
    torn: RawLine | None  # the torn last line: cut by the file's owner, ignored by readers
    missing_newline: bool  # the last kept line is a complete record but lacks its newline


def scan_objects(path: str | Path, data: bytes) -> Scan:
    """Parse a JSON-lines file in which only an unterminated last chunk may be torn; any other bad
    line raises a DataError naming it."""
    lines, tail = split_lines(data)
    torn = None
    if tail is not None:
        if is_object(tail.text):
            lines.append(tail)
        else:
            torn = tail
    objects: list[tuple[int, dict]] = []
    for line in lines:
        if not line.text.strip():
            continue
        try:
            obj = decode_line(path, line)
        except DataError as exc:
            raise DataError(path, line.lineno, None, f"{exc.problem}; only a file's last line can be a torn "
                            "write, so this line is corrupt: repair it by hand") from None
        if not isinstance(obj, dict):
            raise DataError(path, line.lineno, None, f"not a JSON object ({line.text[:60].decode('utf-8', 'replace')!r})")
        objects.append((line.lineno, obj))
    return Scan(objects, torn, tail is not None and torn is None)


def torn_notice(path: str | Path, torn: RawLine, consequence: str) -> str:
    """What to tell the user about a torn last line: which file and line, what it held, what follows."""
    preview = torn.text[:60].decode("utf-8", "replace")
    return f"{where(path, torn.lineno)}: torn last line (a write cut short by a crash): {preview!r}; {consequence}"


class TornLineWarning(UserWarning):
    """A file ended in a partial line (a crash mid-write) and that line was set aside."""


def encode_line(obj: dict) -> bytes:
    """One compact JSON line with its newline; NaN/inf are refused so every reader can parse it."""
    return (json.dumps(obj, separators=(", ", ": "), allow_nan=False) + "\n").encode("utf-8")


class FileLockedError(ValueError):
    """Another live process holds the file open for appending (two writers could pay a label twice).
    A ValueError: the run directory given is in use, which the user fixes, not the code. `holder` is
    `lock_holder`'s answer at the time, or None."""

    holder: str | None = None


def when_unlocked(open_file: Callable[[], Any], wait: float, *,
                  waitable: Callable[[FileLockedError], bool] = lambda exc: True) -> Any:
    """`open_file()`, retried while it raises a FileLockedError that `waitable` accepts, for up to `wait`
    seconds. Why: after a driver is killed, Ray ends its budget coordinators asynchronously, and their
    flock goes only when those processes exit; a successor waits for that instead of failing."""
    deadline = time.monotonic() + wait
    while True:
        try:
            return open_file()
        except FileLockedError as exc:
            if not waitable(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def lock_holder(path: str | Path) -> str | None:
    """`pid N (command)` of the process holding a flock on `path`, from /proc/locks (Linux), or None."""
    try:
        inode = os.stat(path).st_ino
        with open("/proc/locks") as fh:
            rows = [row.split() for row in fh if "->" not in row]
    except OSError:
        return None
    for row in rows:
        if len(row) >= 6 and row[1] == "FLOCK" and row[5].rsplit(":", 1)[-1] == str(inode):
            pid = row[4]
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as fh:
                    cmd = fh.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()[:80]
            except OSError:
                cmd = ""
            return f"pid {pid}" + (f" ({cmd})" if cmd else "")
    return None


class Closing:
    """`with obj:` closes it: for the classes here that own a file (and so a lock) until `close()`."""

    def close(self) -> None:  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class AppendFile(Closing):
    """An exclusively locked, append-only file: read it whole, repair its tail, append fsynced lines.

    `blocking=False` (the owner of a ledger or a request queue) fails fast with FileLockedError when
    another process holds the file; `blocking=True` (annotators adding answers) waits its turn.
    `create=False` refuses a missing file instead of creating it (nothing is written on a refusal).
    """

    def __init__(self, path: str | os.PathLike, *, blocking: bool = False, create: bool = True) -> None:
        self._fd = -1
        self.path = Path(path)
        if create:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        created = not self.path.exists()
        flags = os.O_RDWR | os.O_APPEND | (os.O_CREAT if create else 0)
        self._fd = os.open(self.path, flags, FILE_MODE)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(self._fd)
            self._fd = -1  # else __del__ would close the number again, by then perhaps another file's
            holder = lock_holder(self.path)
            error = FileLockedError(f"{self.path}: in use by another live process ({holder or 'holder unknown'}); "
                                    "two writers on one file could pay for a label twice")
            error.holder = holder
            raise error from None
        if created:
            fsync_dir(self.path.parent)

    @property
    def closed(self) -> bool:
        return self._fd < 0

    def read_all(self) -> bytes:
        self._check_open()
        size = os.fstat(self._fd).st_size
        return os.pread(self._fd, size, 0) if size else b""

    def repair_tail(self, scan: Scan) -> None:
        """Cut the torn last line of `scan` (or end a complete last line with its newline), durably.
        The caller decides first that the cut loses nothing (the owner checked what the line held)."""
        self._check_open()
        if scan.torn is not None:
            os.ftruncate(self._fd, scan.torn.offset)
            os.fsync(self._fd)
        elif scan.missing_newline:
            self.append_raw(b"\n")

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

    def __del__(self) -> None:  # pragma: no cover - best effort
        try:
            self.close()
        except Exception:
            pass
