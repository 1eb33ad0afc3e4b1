"""A finished tiny-model run, damaged the ways a ledger gets damaged, then resumed and verified.

Every damage that could lose or alter a paid label is refused before any actor starts, naming the
file and the first bad line, with every file in the run directory byte-identical afterwards; a torn
last line the checkpoint does not count is cut and reported; a legacy ledger resumes with a notice;
a damaged newest checkpoint falls back to the one before it; a run directory in use is refused."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from runs import assert_same_run, ledger, summary, tiny_config
from stackray.budget import FileLockedError
from stackray.io import DataError
from stackray.run import ActiveRun, run_active
from stackray.run.integrity import verify_run

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def finished(ray_local, tiny_model, tiny_cache, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("integrity")
    run_active(tiny_config(root, tiny_model, tiny_cache), run_dir=root / "run", progress=False)
    return root / "run"


def copy_of(run_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(run_dir, tmp_path / "run"))


def files(run_dir: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run_dir)): p.read_bytes() for p in sorted(run_dir.rglob("*")) if p.is_file()}


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stackray.cli", *args], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PYTHONPATH=str(REPO)), cwd=REPO)


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def _edit(line: bytes) -> bytes:
    obj = json.loads(line)
    obj["answer"] = (obj["answer"] + 1) % 4
    return (json.dumps(obj) + "\n").encode()


DAMAGE = {  # name -> (new ledger bytes from its lines, or None to delete it; the first bad line reported)
    "cut": (lambda ls: b"".join(ls[:-3]), lambda ls: len(ls) - 2),
    "deleted": (lambda ls: None, None),
    "edited": (lambda ls: b"".join(ls[:1] + [_edit(ls[1])] + ls[2:]), lambda ls: 2),
    "reordered": (lambda ls: b"".join(ls[:1] + [ls[2], ls[1]] + ls[3:]), lambda ls: 2),
    "garbage": (lambda ls: b"".join(ls[:2] + [b"\x00\x00 not json\n"] + ls[2:]), lambda ls: 3),
    "last line cut": (lambda ls: b"".join(ls[:-1]) + ls[-1][:25], lambda ls: len(ls)),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_ledger_refuses_resume_and_verify_names_it(finished: Path, tmp_path: Path, damage: str) -> None:
    run_dir = copy_of(finished, tmp_path)
    path = run_dir / "llf" / "ledger.jsonl"
    lines = _lines(path)
    assert len(lines) >= 4
    make, bad = DAMAGE[damage]
    data = make(lines)
    if data is None:
        path.unlink()
    else:
        path.write_bytes(data)
    before = files(run_dir)
    where = str(path) if bad is None else f"{path}:{bad(lines)}:"
    with pytest.raises(DataError, match=f"^{where}") as info:  # LedgerIntegrityError, or a bad line
        ActiveRun(None, run_dir, resume=True, progress=False).run()
    assert "\n" not in str(info.value)
    assert files(run_dir) == before  # nothing rewritten, nothing created
    problems = verify_run(run_dir).problems
    assert problems and problems[0].startswith(where)


def test_the_cli_refuses_a_cut_ledger_in_one_line_and_verify_reports_it(finished: Path, tmp_path: Path) -> None:
    run_dir = copy_of(finished, tmp_path)
    path = run_dir / "full" / "ledger.jsonl"
    path.write_bytes(b"".join(_lines(path)[:10]))
    done = cli("run", "--resume", str(run_dir), "--no-progress")
    assert done.returncode == 2 and f"{path}:11: missing:" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    done = cli("verify", str(run_dir))
    assert done.returncode == 1
    problems = [x for x in done.stdout.splitlines() if x.startswith("problem:")]
    assert problems == [f"problem: {path}:11: missing: {run_dir}/checkpoints/ckpt-000005.json counts 96 paid labels "
                        "but the ledger holds 10; it was cut or lines were deleted"]
    assert done.stdout.splitlines()[-1] == f"{run_dir}: 1 problem"
    assert cli("verify", str(finished)).returncode == 0


def test_a_torn_uncounted_last_line_is_cut_and_reported_on_the_terminal_and_in_the_summary(
        finished: Path, tmp_path: Path, capfd) -> None:
    run_dir = copy_of(finished, tmp_path)
    path = run_dir / "llf" / "ledger.jsonl"
    clean = path.read_bytes()
    path.write_bytes(clean + b'{"round": 95, "item": "openbookqa/')
    assert "torn last line" in verify_run(run_dir).notes[0] and not verify_run(run_dir).problems
    run_active(None, resume=run_dir, progress=False)
    err = capfd.readouterr().err
    torn_line = len(clean.splitlines()) + 1
    assert f"stackray: {path}:{torn_line}: torn last line" in err
    assert path.read_bytes() == clean
    notices = summary(run_dir)["integrity"]["notices"]
    assert len(notices) == 1 and "torn last line" in notices[0]
    assert_same_run(finished, run_dir)


def test_a_legacy_ledger_resumes_with_a_notice(finished: Path, tmp_path: Path, capfd) -> None:
    run_dir = copy_of(finished, tmp_path)
    path = run_dir / "random" / "ledger.jsonl"
    unhashed = b"".join((json.dumps({k: v for k, v in json.loads(x).items() if k != "h"}) + "\n").encode()
                        for x in _lines(path))
    path.write_bytes(unhashed)
    assert not verify_run(run_dir).problems
    run_active(None, resume=run_dir, progress=False)
    assert "carry no hash (a ledger written before hash chaining)" in capfd.readouterr().err
    assert path.read_bytes() == unhashed  # never rewritten
    assert ledger(run_dir / "random") == ledger(finished / "random")


def test_a_corrupt_latest_checkpoint_falls_back_to_the_previous_one(finished: Path, tmp_path: Path, capfd) -> None:
    run_dir = copy_of(finished, tmp_path)
    blob = run_dir / "checkpoints" / "ckpt-000005.safetensors"
    blob.write_bytes(blob.read_bytes()[:-1] + b"\x00")
    assert any("ckpt-000005.safetensors: its sha256 does not match" in p for p in verify_run(run_dir).problems)
    run_active(None, resume=run_dir, progress=False)  # replays window 5; the ledger answers its labels
    assert "resuming from the intact ckpt-000004 instead" in capfd.readouterr().err
    assert "ckpt-000004" == summary(run_dir)["integrity"]["resumed_from"]
    assert_same_run(finished, run_dir)
    assert not verify_run(run_dir).problems  # window 5's checkpoint was written again


def test_every_run_file_is_0600(finished: Path) -> None:
    modes = {str(p.relative_to(finished)): stat.S_IMODE(p.stat().st_mode) for p in finished.rglob("*") if p.is_file()}
    assert {"llf/ledger.jsonl", "summary.json", "learning_curve.png", "checkpoints/LATEST", "run.lock"} <= modes.keys()
    assert {name: mode for name, mode in modes.items() if mode != 0o600} == {}


HOLD = "import sys, time; from stackray.io import AppendFile; f = AppendFile(sys.argv[1]); print('held', flush=True); time.sleep(120)"


@pytest.mark.parametrize("held", ["run.lock", "llf/ledger.jsonl"])
def test_a_run_dir_in_use_is_refused_at_once_naming_file_and_holder(finished: Path, tmp_path: Path, held: str) -> None:
    run_dir = copy_of(finished, tmp_path)
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(run_dir / held)], stdout=subprocess.PIPE, text=True,
                              env=dict(os.environ, PYTHONPATH=str(REPO)))
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(FileLockedError) as info:
            ActiveRun(None, run_dir, resume=True, progress=False).run()
        assert str(run_dir / held) in str(info.value) and f"(pid {holder.pid} (" in str(info.value)
        assert "\n" not in str(info.value)
    finally:
        holder.kill()
        holder.wait()
