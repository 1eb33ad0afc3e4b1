"""The scoring fleet's single-replica core: LM features φ(x, y) for multiple-choice items, cached.

    scorer = load_scorer()                       # SmolLM2-135M-Instruct GGUF, loaded lazily
    phi = scorer.featurize(items, "cloze")       # float32 [N, K, d]; columns: scorer.feature_names
    res = cached_features(scorer, items, "cloze")  # the same through the on-disk cache

Columns and scaling are documented in `stackray.scoring.base`; prompt formats in
`stackray.scoring.prompts`; prefix sharing in `stackray.scoring.hf_backend`; the cache in
`stackray.scoring.cache`. Importing this package does not import torch or transformers.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from stackray.scoring.base import BASE_COLUMNS, FEATURE_VERSION, BaseScorer, CandidateScores
from stackray.scoring.cache import FeatureCache, FeatureResult, cached_features, default_cache_root
from stackray.scoring.prompts import FORMATS, NEUTRAL_PROMPT, PromptSplit, build_prompt, build_prompts

# backend name -> (module under stackray.scoring, class name)
BACKENDS: dict[str, tuple[str, str]] = {
    "transformers": ("hf_backend", "TransformersScorer"),
    "vllm": ("vllm_backend", "VLLMScorer"),
}


def load_scorer(
    backend: str = "transformers",
    model: Any = None,
    adapter: str | os.PathLike | None = None,
    *,
    d_h: int | None = 64,
    dtype: str = "float32",
    seed: int = 0,
    **kwargs: Any,
) -> BaseScorer:
    """Build a scorer (weights load on its first `featurize`).

    model: None (the bundled SmolLM2-135M-Instruct GGUF), a hub id, a local folder or .gguf file,
    or (transformers) a `PreTrainedModel` with ``tokenizer=``. adapter: a peft LoRA adapter folder.
    d_h: width of the random projection of the hidden state (None/0: full hidden size).
    Backend-specific kwargs (transformers): mode="shared"|"naive", device, num_threads,
    batch_size, max_length, tokenizer.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown scorer backend {backend!r}; expected one of {', '.join(BACKENDS)}")
    module_name, class_name = BACKENDS[backend]
    try:
        module = importlib.import_module(f"stackray.scoring.{module_name}")
    except ModuleNotFoundError as exc:
        raise ValueError(f"scorer backend {backend!r} is not available here: {exc}") from exc
    cls = getattr(module, class_name)
    return cls(model, adapter, d_h=d_h, dtype=dtype, seed=seed, **kwargs)


__all__ = [
    "BACKENDS",
    "BASE_COLUMNS",
    "FEATURE_VERSION",
    "FORMATS",
    "NEUTRAL_PROMPT",
    "BaseScorer",
    "CandidateScores",
    "FeatureCache",
    "FeatureResult",
    "PromptSplit",
    "build_prompt",
    "build_prompts",
    "cached_features",
    "default_cache_root",
    "load_scorer",
]
