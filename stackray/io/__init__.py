"""Durable files, in one place: atomic writes, fsynced appends with tail repair, file hashes, and the
error that names file:line:field.

Why one home: a run directory is the only memory a run has across crashes (labels are money), and
each of these guarantees is easy to get subtly wrong once more. Everything under stackray/ that writes
a file that must survive a crash, or reads a JSON-lines file, goes through this package, and imports
it from here (`from stackray.io import ...`):

- `files`: whole files: atomic writes (temp file, fsync, rename, fsync of the folder), atomic folders,
  sha256, the 0600 file mode, and `DataError`, the error that says where;
- `appends`: JSON-lines files that are appended to by one owner (ledgers, request queues, answers):
  one fsynced write per line, the torn-tail rule, and the lock that keeps a second writer out.

File mode: every file this package creates is 0600 (FILE_MODE; owner read/write only). A run directory
holds paid labels and annotators' answers, which are nobody else's business, and one mode for every
run file means no file is accidentally more readable than the ledger it sits beside. The umask can
only remove bits from it.
"""

from stackray.io.appends import (
    AppendFile,
    Closing,
    FileLockedError,
    RawLine,
    Scan,
    TornLineWarning,
    decode_line,
    encode_line,
    is_object,
    lock_holder,
    scan_objects,
    split_lines,
    torn_notice,
    when_unlocked,
)
from stackray.io.files import (
    FILE_MODE,
    DataError,
    atomic_write,
    atomic_write_bytes,
    atomic_write_dir,
    atomic_write_text,
    file_sha256,
    fsync_dir,
    read_bytes,
    restore_dir,
    where,
)

__all__ = [
    "FILE_MODE", "AppendFile", "Closing", "DataError", "FileLockedError", "RawLine", "Scan", "TornLineWarning",
    "atomic_write", "atomic_write_bytes", "atomic_write_dir", "atomic_write_text", "decode_line", "encode_line",
    "file_sha256", "fsync_dir", "is_object", "lock_holder", "read_bytes", "restore_dir", "scan_objects",
    "split_lines", "torn_notice", "when_unlocked", "where",
]
