"""The run directory: where each artefact lives, and atomic checkpoints.

    RUN_DIR/
      config.yaml          the validated config the run was started with (resume re-reads it)
      ledger.jsonl         paid labels (one-strategy runs; several strategies: RUN_DIR/<strategy>/ledger.jsonl)
      requests.jsonl       human oracle only: the questions put to annotators (`stackray label RUN_DIR`)
      answers.jsonl        human oracle only: their answers
      checkpoints/         ckpt-<window>.safetensors + ckpt-<window>.json, and LATEST naming the newest
      metrics.jsonl        held-out accuracy against labels used, every few windows
      learning_curve.png   the same, drawn
      summary.json         the final table, and which head each strategy serves and why

Why a checkpoint is two files plus a pointer: safetensors holds the arrays exactly (float64 A, A^-1,
theta: a resumed run is bit-identical) and JSON the rest, and two files cannot be replaced atomically
together. Each is written to a temp file, fsynced and renamed; the JSON records the safetensors'
sha256; LATEST is renamed into place last. A crash at any instant leaves LATEST naming a complete,
verified pair (or no LATEST at all: resume then starts from window 0, which is still exact because
the ledger answers every round it already paid for).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from stackray.budget.jsonl import fsync_dir

CHECKPOINTS = "checkpoints"
LATEST = "LATEST"
KEEP = 2  # checkpoints kept on disk (the newest and one before it)


def strategy_dir(run_dir: Path, strategy: str, strategies: tuple[str, ...]) -> Path:
    """Where a strategy's ledger (and human queue) lives: the run directory itself for one strategy."""
    return run_dir if len(strategies) == 1 else run_dir / strategy


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write, fsync, rename: readers see the old file or the new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


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


def load_checkpoint(run_dir: Path) -> tuple[dict[str, np.ndarray], dict] | None:
    """(arrays, meta) of the newest complete checkpoint, or None when the run has none yet."""
    from safetensors.numpy import load

    folder = run_dir / CHECKPOINTS
    pointer = folder / LATEST
    if not pointer.is_file():
        return None
    stem = pointer.read_text().strip()
    meta_path, blob_path = folder / f"{stem}.json", folder / f"{stem}.safetensors"
    try:
        meta = json.loads(meta_path.read_text())
        blob = blob_path.read_bytes()
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{pointer}: names checkpoint {stem!r}, which cannot be read: {exc}") from exc
    if hashlib.sha256(blob).hexdigest() != meta.get("sha256"):
        raise ValueError(f"{blob_path}: its sha256 does not match {meta_path}; the checkpoint is corrupt")
    return load(blob), meta
