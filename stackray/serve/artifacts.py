"""What a finished run directory gives the server, read once and never written: a `ServedRun`.

Read-only by design: a run that is still playing (or being resumed) owns its directory, so serving
opens nothing for writing and takes no lock. Only a run that has finished is served: its summary.json
is written last, so a directory without it is refused with a clear error.

From the run directory:
- config.yaml: the scoring settings (model, format, d_h, dtype) the head was learned on, so /v1/score
  computes the same features and `predict` offline agrees with it;
- summary.json and heads.safetensors: the served head (`<strategy>/served`: the learned theta or the
  zero-shot prior, as the run decided) of the config's first strategy;
- the newest intact checkpoint: the leader's A^-1, for the confidence width and the gate's decision;
- adapter/ (optional; written by LoRA fine-tuning): adapter_config.json, adapter_model.safetensors and
  stackray_adapter.json {"base_fingerprint", "adapter_fingerprint"}. Both fingerprints are checked: the
  adapter file must hash to its recorded fingerprint, and the base model the config names must be the one
  it was trained on. When present it is merged into the base for scoring and generation.

The model id is versioned, `<run name>@<12 hex>`, from the adapter's fingerprint (or heads.safetensors'
sha256 without an adapter): a retrained adapter or a rerun gets a new id and is never confused with the old.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydantic import ValidationError

from stackray.io import DataError, file_sha256
from stackray.run.config import RunConfig
from stackray.run.config_io import ConfigError, error_lines, read_yaml
from stackray.run.layout import load_checkpoint

SUMMARY = "summary.json"
CONFIG = "config.yaml"
HEADS = "heads.safetensors"
ID_HEX = 12


@dataclass(frozen=True, eq=False)
class ServedRun:
    """Everything the model deployment needs to serve one run (plain values: it travels to Ray replicas)."""

    model_id: str
    name: str
    run_dir: str
    strategy: str
    head: str  # "learned" or "prior"
    head_reason: str
    theta: np.ndarray  # float64 [d], the served head
    A_inv: np.ndarray  # float64 [d, d], the leader's final A^-1
    alpha: float
    c: float
    tau: float
    model: str | None  # the base model as the config names it (None: the bundled SmolLM2)
    adapter: str | None  # a peft adapter folder merged into the base, or None
    fmt: str
    d_h: int
    dtype: str
    feature_names: tuple[str, ...]

    def card(self) -> dict:
        """The /v1/models entry."""
        return {"id": self.model_id, "object": "model", "created": int(Path(self.run_dir, SUMMARY).stat().st_mtime),
                "owned_by": "stackray", "root": self.name, "run_dir": self.run_dir, "strategy": self.strategy,
                "head": self.head, "adapter": self.adapter is not None}


def load_served_run(run_dir: str | Path) -> ServedRun:
    """Read a finished run directory (see the module docstring); a ConfigError/ValueError names what is wrong."""
    root = Path(run_dir).expanduser().resolve()
    if not root.is_dir():
        raise ConfigError(f"{run_dir}: no such run directory")
    if not (root / SUMMARY).is_file():
        raise ConfigError(f"{root}: no {SUMMARY}; only a finished run can be served (is it still running, "
                          f"or was it interrupted? finish it with: stackray run --resume {root})")
    config = _run_config(root / CONFIG)
    if config.data.orders > 1:  # stackray.run.orders: N complete runs, each with its own served head
        raise ConfigError(f"{root}: holds {config.data.orders} orders of one pool (data.orders), each a complete run "
                          f"with its own head; serve one of them, e.g. {root / 'order-0'}")
    summary = _json(root / SUMMARY)
    strategy = config.strategies[0]
    row = next((r for r in summary.get("rows", []) if r.get("strategy") == strategy), None)
    if row is None:
        raise ConfigError(f"{root / SUMMARY}: no row for strategy {strategy!r}")
    theta = _served_head(root, strategy)
    A_inv = _leader_A_inv(root, strategy, theta.shape[0])
    adapter = _adapter(root, config)
    version = adapter[1] if adapter else file_sha256(root / HEADS)
    game = config.game_config(strategy)
    return ServedRun(
        model_id=f"{config.name}@{version[:ID_HEX]}", name=config.name, run_dir=str(root), strategy=strategy,
        head=str(row.get("served", "prior")), head_reason=str(row.get("head_choice", {}).get("reason", "")),
        theta=theta, A_inv=A_inv, alpha=game.alpha, c=game.c, tau=game.tau, model=config.scoring.model,
        adapter=adapter[0] if adapter else config.scoring.adapter, fmt=config.scoring.format, d_h=config.scoring.d_h,
        dtype=config.scoring.dtype, feature_names=tuple(summary.get("feature_names") or ()))


def _run_config(path: Path) -> RunConfig:
    """The run's stored config, validated without re-reading its data (serving needs only the scoring settings)."""
    if not path.is_file():
        raise ConfigError(f"{path}: missing; not a run directory")
    try:
        return RunConfig.model_validate(read_yaml(path), context={"base": path.parent})
    except ValidationError as exc:
        raise ConfigError(error_lines(exc, RunConfig, str(path))) from None


def _json(path: Path) -> dict:
    try:
        doc = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read as JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: expected a JSON object, got {type(doc).__name__}")
    return doc


def _served_head(root: Path, strategy: str) -> np.ndarray:
    from safetensors.numpy import load_file

    try:
        heads = load_file(root / HEADS)
    except Exception as exc:  # missing, truncated or not safetensors at all
        raise ConfigError(f"{root / HEADS}: cannot be read: {exc}") from None
    key = f"{strategy}/served"
    if key not in heads:
        raise ConfigError(f"{root / HEADS}: no array {key!r} (have: {', '.join(sorted(heads))})")
    theta = np.asarray(heads[key], dtype=np.float64)
    if theta.ndim != 1 or not np.all(np.isfinite(theta)):
        raise ConfigError(f"{root / HEADS}: {key} is not a finite vector")
    return theta


def _leader_A_inv(root: Path, strategy: str, dim: int) -> np.ndarray:
    found = load_checkpoint(root)
    key = f"{strategy}/leader.A_inv"
    if found is None or key not in found.arrays:
        raise ConfigError(f"{root}: no checkpoint holding {key}; the confidence width cannot be computed")
    A_inv = np.asarray(found.arrays[key], dtype=np.float64)
    if A_inv.shape != (dim, dim):
        raise ConfigError(f"{found.path}: {key} has shape {A_inv.shape}, the served head has dimension {dim}")
    return A_inv


def _adapter(root: Path, config: RunConfig) -> tuple[str, str] | None:
    """(folder, adapter fingerprint) of RUN_DIR/adapter, checked against its files (stackray.train.adapter,
    the module that writes it) and against the run's base model; None without one."""
    from stackray.train.adapter import ADAPTER_DIR, read_adapter_meta

    folder = root / ADAPTER_DIR
    if not folder.exists():
        return None
    try:
        meta = read_adapter_meta(folder)
    except DataError as exc:  # names the file and the field
        raise ConfigError(str(exc)) from None
    base = base_fingerprint(config.scoring.model)
    if meta["base_fingerprint"] != base:
        raise ConfigError(f"{folder}: the adapter was trained on base {meta['base_fingerprint'][:22]}..., "
                          f"but the run's model is {base[:22]}...; refusing to apply it to another base")
    return str(folder), meta["adapter_fingerprint"]


def base_fingerprint(model: str | None) -> str:
    """The base model's content fingerprint as stackray.scoring.models computes it (e.g. 'gguf:<sha256>')."""
    from stackray.scoring.models import resolve_model

    return resolve_model(model).fingerprint()
