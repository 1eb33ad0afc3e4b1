"""Shared fixtures: a tiny random Llama (fast unit tests) and the real SmolLM2 (loaded once per session)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def smollm_tokenizer():
    from transformers import AutoTokenizer

    from stackray.scoring.models import hf_folder, resolve_model

    # the GGUF's tokenizer as converted once (tests/scoring/test_models_real.py checks it against the GGUF's own)
    return AutoTokenizer.from_pretrained(hf_folder(resolve_model(None)))


@pytest.fixture(scope="session")
def tiny_model(smollm_tokenizer):
    """A seeded 2-layer Llama (hidden 64) over SmolLM2's vocabulary: random weights, real tokenizer."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(smollm_tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024, tie_word_embeddings=True,
        attn_implementation="sdpa",
    )
    return LlamaForCausalLM(config).eval()


@pytest.fixture
def tiny_scorer(tiny_model, smollm_tokenizer):
    from stackray.scoring import load_scorer

    return load_scorer(model=tiny_model, tokenizer=smollm_tokenizer, d_h=8, num_threads=1)


@pytest.fixture(scope="session")
def real_scorer():
    """The real SmolLM2-135M-Instruct GGUF, loaded once for every slow test in the session."""
    from stackray.scoring import load_scorer

    scorer = load_scorer(d_h=64)
    scorer.ensure_loaded()
    return scorer
