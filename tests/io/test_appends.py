"""stackray.io.appends: only an unterminated last chunk is a torn line, and a locked file names its holder."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stackray.io import AppendFile, DataError, FileLockedError, scan_objects


def test_only_an_unterminated_last_chunk_is_torn(tmp_path: Path) -> None:
    scan = scan_objects("f", b'{"a": 1}\n{"a": 2}')
    assert scan.torn is None and scan.missing_newline and [o for _, o in scan.objects] == [{"a": 1}, {"a": 2}]
    assert scan_objects("f", b'{"a": 1}\n{"a"').torn.lineno == 2
    with pytest.raises(DataError, match=r"^f:2: invalid JSON"):
        scan_objects("f", b'{"a": 1}\n{"a"\n')


def test_a_locked_file_is_refused_at_once_naming_the_holder(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from stackray.io import AppendFile; f = AppendFile(sys.argv[1]); "
         "print('locked', flush=True); time.sleep(60)", str(path)],
        stdout=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=str(Path(__file__).parents[2])))
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(FileLockedError, match=rf"in use by another live process \(pid {holder.pid} ") as info:
            AppendFile(path)
        assert info.value.holder.startswith(f"pid {holder.pid}")
        del info
        with AppendFile(tmp_path / "other.jsonl") as other:  # likely reuses the refused open's fd number
            gc.collect()  # the refused AppendFile is collected: it must not close that number again
            other.append({"round": 1})
    finally:
        holder.kill()
        holder.wait()
    deadline = time.monotonic() + 10
    while True:  # the kernel drops the lock with its holder
        try:
            AppendFile(path).close()
            break
        except FileLockedError:
            assert time.monotonic() < deadline
            time.sleep(0.05)
