"""The adapter artefact: RUN_DIR/adapter/, loadable by plain peft as it is.

    adapter/
      adapter_config.json         peft's own (save_pretrained)
      adapter_model.safetensors   peft's own: the LoRA weights, no pickle
      stackray_adapter.json       {"base_fingerprint", "adapter_fingerprint", "version", "loss", "steps", ...}

Why the base fingerprint: the adapter was fitted to the weights the base file dequantises to (a GGUF's
Q4_1, here), and adapter_config.json names the base only by a machine-specific path; the fingerprint
(`ModelSource.fingerprint()` of stackray.scoring.models, e.g. "gguf:<sha256>") is what a loader checks
the base against. `adapter_fingerprint` is the sha256 of adapter_model.safetensors, so a consumer can
version what it serves (and tell a torn or edited file from the one written).

The folder is written whole into a temp folder, fsynced and swapped in (stackray.io.atomic_write_dir):
a reader sees the previous adapter or the new one, never a mix of the two.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Callable

from stackray.io import DataError, atomic_write_dir, file_sha256

ADAPTER_DIR = "adapter"
META_FILE = "stackray_adapter.json"
WEIGHTS_FILE = "adapter_model.safetensors"
CONFIG_FILE = "adapter_config.json"
FORMAT_VERSION = 1


def write_adapter(folder: str | Path, save: Callable[[Path], None], meta: dict[str, Any]) -> dict[str, Any]:
    """Write an adapter folder: `save(tmp)` writes peft's two files, then the stackray record; returns the record."""
    if "base_fingerprint" not in meta:
        raise ValueError("an adapter record needs the base model's fingerprint (base_fingerprint)")

    def fill(tmp: Path) -> None:
        save(tmp)
        for name in (CONFIG_FILE, WEIGHTS_FILE):
            if not (tmp / name).is_file():
                raise ValueError(f"saving the adapter wrote no {name} (is it a peft LoRA model?)")
        record = {"format": FORMAT_VERSION, **meta, "adapter_fingerprint": file_sha256(tmp / WEIGHTS_FILE)}
        (tmp / META_FILE).write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")

    atomic_write_dir(folder, fill)
    return read_adapter_meta(folder)


def publish_adapter(source: str | Path, folder: str | Path) -> dict[str, Any]:
    """Copy a complete adapter folder to `folder` (e.g. a versioned one to RUN_DIR/adapter/), whole or not at all."""
    record = read_adapter_meta(source)

    def fill(tmp: Path) -> None:
        for name in (CONFIG_FILE, WEIGHTS_FILE, META_FILE):
            shutil.copyfile(Path(source) / name, tmp / name)

    atomic_write_dir(folder, fill)
    return record


def read_adapter_meta(folder: str | Path, *, verify: bool = True) -> dict[str, Any]:
    """The stackray record of an adapter folder, checked against the weights file when `verify`."""
    folder = Path(folder)
    path = folder / META_FILE
    for name in (CONFIG_FILE, WEIGHTS_FILE, META_FILE):
        if not (folder / name).is_file():
            raise DataError(folder / name, None, None, "missing: not a complete stackray adapter folder")
    try:
        record = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise DataError(path, exc.lineno, None, f"not valid JSON ({exc.msg})") from None
    for key in ("base_fingerprint", "adapter_fingerprint"):
        if not isinstance(record.get(key), str):
            raise DataError(path, None, key, "missing or not a string")
    if verify and file_sha256(folder / WEIGHTS_FILE) != record["adapter_fingerprint"]:
        raise DataError(folder / WEIGHTS_FILE, None, None,
                        f"its sha256 differs from adapter_fingerprint in {META_FILE} (damaged or replaced)")
    return record


def check_base(folder: str | Path, base_fingerprint: str) -> dict[str, Any]:
    """The adapter's record, after checking it was trained on the base with `base_fingerprint`."""
    record = read_adapter_meta(folder)
    if record["base_fingerprint"] != base_fingerprint:
        raise ValueError(f"{Path(folder) / META_FILE}: the adapter was trained on base {record['base_fingerprint']}, "
                         f"not on the model loaded here ({base_fingerprint})")
    return record


def load_adapter(base_model, folder: str | Path, base_fingerprint: str):
    """`peft.PeftModel.from_pretrained(base_model, folder)` after the base check (for inference)."""
    from peft import PeftModel

    check_base(folder, base_fingerprint)
    return PeftModel.from_pretrained(base_model, str(folder), is_trainable=False)
