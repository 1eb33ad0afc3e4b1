"""stackray.io.files: the error survives pickling (Ray rebuilds actor errors that way), files are 0600, and
atomic writes leave the old file or the new one."""

from __future__ import annotations

import os
import pickle
import stat
from pathlib import Path

import pytest

from stackray.budget import AlreadyAnsweredError, LedgerIntegrityError
from stackray.io import FILE_MODE, AppendFile, DataError, atomic_write, atomic_write_text, file_sha256


@pytest.mark.parametrize("cls", [DataError, AlreadyAnsweredError, LedgerIntegrityError])
def test_data_error_pickle_round_trip_keeps_class_message_and_place(cls) -> None:
    err = cls("/runs/x/ledger.jsonl", 7, "h", "does not chain")
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is cls and str(back) == str(err) == "/runs/x/ledger.jsonl:7: field 'h': does not chain"
    assert (back.path, back.line, back.field, back.problem) == (err.path, 7, "h", "does not chain")


@pytest.mark.slow
def test_data_error_survives_a_real_ray_actor(tmp_path: Path) -> None:
    """The error an actor raises reaches the caller as itself, not as an unserialisable wrapper."""
    ray = pytest.importorskip("ray")
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=1, include_dashboard=False, object_store_memory=100 * 2**20, log_to_driver=False)

    @ray.remote(num_cpus=0)
    class Raiser:
        def boom(self, path: str) -> None:
            raise LedgerIntegrityError(path, 3, None, "torn, but counted")

    actor = Raiser.remote()
    with pytest.raises(LedgerIntegrityError, match=r"ledger\.jsonl:3: torn, but counted") as info:
        ray.get(actor.boom.remote(str(tmp_path / "ledger.jsonl")))
    assert info.value.line == 3
    ray.kill(actor)
    if started:
        ray.shutdown()  # leave the machine quiet for the tests after this one


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_every_file_is_created_0600(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "a" / "summary.json", "{}")
        with AppendFile(tmp_path / "ledger.jsonl") as f:
            f.append({"round": 0})
    finally:
        os.umask(old)
    assert FILE_MODE == 0o600
    assert _mode(tmp_path / "a" / "summary.json") == 0o600 and _mode(tmp_path / "ledger.jsonl") == 0o600


def test_atomic_write_keeps_the_old_file_when_the_writer_fails(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    atomic_write_text(path, "old")

    def half(fh) -> None:
        fh.write(b"ne")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, half)
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["x.json"]  # no temp left


def test_file_sha256_matches_hashlib(tmp_path: Path) -> None:
    import hashlib

    data = os.urandom(5 << 20)
    (tmp_path / "w.bin").write_bytes(data)
    assert file_sha256(tmp_path / "w.bin") == hashlib.sha256(data).hexdigest()
