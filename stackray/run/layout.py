"""The run directory: where each artefact lives, and atomic checkpoints.

    RUN_DIR/
      config.yaml          the validated config the run was started with (resume re-reads it)
      ledger.jsonl         paid labels (one-strategy runs; several strategies: RUN_DIR/<strategy>/ledger.jsonl)
      requests.jsonl       human oracle only: the questions put to annotators (`stackray label RUN_DIR`)
      answers.jsonl        human oracle only: their answers
      checkpoints/         ckpt-<window>.safetensors + ckpt-<window>.json (the newest two), and LATEST naming the newest
      run.lock             held (flock) by the driver playing the run, so a second driver is refused at once
      metrics.jsonl        held-out accuracy against labels used, every few windows
      learning_curve.png   the same, drawn
      summary.json         the final table, and which head each strategy serves and why

Why a checkpoint is two files plus a pointer: safetensors holds the arrays exactly (float64 A, A^-1,
theta: a resumed run is bit-identical) and JSON the rest, and two files cannot be replaced atomically
together. Each is written to a temp file, fsynced and renamed; the JSON records the safetensors'
sha256; LATEST is renamed into place last. A crash at any instant leaves LATEST naming a complete,
verified pair (or no LATEST at all: resume then starts from window 0, which is still exact because
the ledger answers every round it already paid for). Two checkpoints are kept, so a damaged newest
one (which the sha256 exposes) falls back to the one before it.

Every run file is created 0600 (`stackray.io.FILE_MODE`): they all go through `stackray.io`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from stackray.io import AppendFile, FileLockedError, atomic_write_bytes, atomic_write_text

CHECKPOINTS = "checkpoints"
LATEST = "LATEST"
KEEP = 2  # checkpoints kept on disk (the newest and one before it, to fall back to when the newest is damaged)
RUN_LOCK = "run.lock"

__all__ = ["atomic_write_bytes", "atomic_write_text", "Checkpoint", "load_checkpoint", "checkpoint_problems",
           "lock_run_dir", "save_arrays", "save_checkpoint", "strategy_dir"]


def strategy_dir(run_dir: Path, strategy: str, strategies: tuple[str, ...]) -> Path:
    """Where a strategy's ledger (and human queue) lives: the run directory itself for one strategy."""
    return run_dir if len(strategies) == 1 else run_dir / strategy


def lock_run_dir(run_dir: Path) -> AppendFile:
    """Hold RUN_DIR/run.lock for as long as a driver plays the run: a second driver is refused at once,
    naming the holder, before it starts anything (the kernel drops the lock when the holder dies)."""
    try:
        return AppendFile(Path(run_dir) / RUN_LOCK)
    except FileLockedError as exc:
        raise FileLockedError(f"{run_dir}: another run is playing this run directory ({exc.holder or 'holder unknown'},"
                              f" holding {Path(run_dir) / RUN_LOCK}); wait for it to end or stop it first") from None


def save_arrays(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """A safetensors file of named arrays, written atomically."""
    from safetensors.numpy import save

    atomic_write_bytes(path, save({k: np.ascontiguousarray(v) for k, v in arrays.items()}))


def save_checkpoint(run_dir: Path, window: int, arrays: dict[str, np.ndarray], meta: dict) -> Path:
    """Write checkpoint `window` (arrays -> safetensors, meta -> JSON), then point LATEST at it."""
    from safetensors.numpy import save

    folder = run_dir / CHECKPOINTS
    stem = f"ckpt-{window:06d}"
    blob = save({k: np.ascontiguousarray(v) for k, v in arrays.items()})
    atomic_write_bytes(folder / f"{stem}.safetensors", blob)
    doc = {"window": window, "sha256": hashlib.sha256(blob).hexdigest(), **meta}
    atomic_write_text(folder / f"{stem}.json", json.dumps(doc, indent=1, sort_keys=True))
    atomic_write_text(folder / LATEST, stem + "\n")
    for old in sorted(folder.glob("ckpt-*.json"))[:-KEEP]:
        old.with_suffix(".safetensors").unlink(missing_ok=True)
        old.unlink(missing_ok=True)
    return folder / f"{stem}.json"


@dataclass(frozen=True)
class Checkpoint:
    """A verified checkpoint: its arrays and metadata, its file, and the newer ones that were damaged."""

    arrays: dict[str, np.ndarray]
    meta: dict
    path: Path  # the .json
    skipped: list[str] = field(default_factory=list)  # one problem per damaged newer checkpoint

    @property
    def name(self) -> str:
        return self.path.stem


def _stems(folder: Path) -> list[str]:
    """Checkpoints to try, best first: the one LATEST names, then every other one, newest first."""
    others = sorted((p.stem for p in folder.glob("ckpt-*.json")), reverse=True)
    try:
        named = [(folder / LATEST).read_text().strip()]
    except (OSError, UnicodeDecodeError):
        named = []
    return named + [s for s in others if s not in named]


def _read(folder: Path, stem: str) -> Checkpoint:
    """One checkpoint pair, verified (its safetensors must have the sha256 its JSON records)."""
    from safetensors.numpy import load

    meta_path, blob_path = folder / f"{stem}.json", folder / f"{stem}.safetensors"
    try:
        meta = json.loads(meta_path.read_text())
        blob = blob_path.read_bytes()
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{meta_path}: checkpoint {stem!r} cannot be read: {exc}") from None
    if not isinstance(meta, dict) or hashlib.sha256(blob).hexdigest() != meta.get("sha256"):
        raise ValueError(f"{blob_path}: its sha256 does not match {meta_path}; the checkpoint is corrupt")
    try:
        return Checkpoint(load(blob), meta, meta_path)
    except Exception as exc:  # a matching hash over bytes safetensors cannot parse: written by something else
        raise ValueError(f"{blob_path}: not a safetensors file ({exc})") from None


def _each(folder: Path):
    """(checkpoint, None) or (None, problem) for every checkpoint in `_stems` order."""
    for stem in _stems(folder):
        try:
            yield _read(folder, stem), None
        except ValueError as exc:
            yield None, str(exc)


def load_checkpoint(run_dir: Path) -> Checkpoint | None:
    """The newest intact checkpoint, or None when the run has none yet.

    A damaged newest checkpoint (disk trouble, a hand edit) makes this fall back to the one before it;
    `skipped` says what was passed over, so the caller can tell the user. When none is intact the
    error says how to recover: replaying from window 0 is exact, because the ledger answers every
    round it already paid for.
    """
    folder = run_dir / CHECKPOINTS
    skipped: list[str] = []
    for found, problem in _each(folder):
        if found is not None:
            return Checkpoint(found.arrays, found.meta, found.path, skipped)
        skipped.append(problem)
    if skipped:
        raise ValueError(f"{folder}: no intact checkpoint ({'; '.join(skipped)}); to replay the run from its start "
                         f"(exact: the ledger answers every round already paid), move {folder} aside and resume again")
    return None


def checkpoint_problems(run_dir: Path) -> list[str]:
    """One line per damaged checkpoint (or a LATEST naming a missing one), for `stackray verify`."""
    return [problem for _, problem in _each(run_dir / CHECKPOINTS) if problem]
