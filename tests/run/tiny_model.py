"""A tiny randomly initialised Llama with SmolLM2's tokenizer, saved as a local model folder.

Why: the run tests need a real transformers scorer that loads in a second (the real SmolLM2 loads in
~20-30 s), so ScorerActors can be killed, restarted and retried quickly. Weights are seeded, so the
features are deterministic; the tokenizer is the bundled GGUF's (no download).
"""

from __future__ import annotations

from pathlib import Path


def build_tiny_model(folder: Path) -> Path:
    """Write the tiny model to `folder` once (config.json marks it complete) and return the folder."""
    if (folder / "config.json").is_file():
        return folder
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from stackray.scoring.models import hf_folder, resolve_model

    tok = AutoTokenizer.from_pretrained(hf_folder(resolve_model(None)))  # the GGUF's tokenizer, converted once
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                         bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, tie_word_embeddings=True)
    model = LlamaForCausalLM(config).eval()
    folder.mkdir(parents=True, exist_ok=True)
    tok.save_pretrained(folder)
    model.save_pretrained(folder, safe_serialization=True)
    return folder
