"""The real SmolLM2-135M-Instruct on real questions: column 0 equals a plain forward pass written here,
prefix sharing is exact, accuracy is clearly above chance, and a cache hit never loads the model.
One model load (session fixture) serves the module."""

import numpy as np
import pytest

from stackray.data import gold_array, load_items, option_mask
from stackray.scoring import cached_features, load_scorer
from stackray.scoring.prompts import build_prompt

pytestmark = pytest.mark.slow


def _accuracy(phi, items, column=0):
    scores = np.where(phi[..., -1] > 0, phi[..., column], -np.inf)
    return float((scores.argmax(axis=1) == gold_array(items)).mean())


@pytest.fixture(scope="module")
def mixed_items():
    # 3 MMLU and 3 ARC-Easy (4 options) and 2 PIQA (2 options) questions: batches of 5 mix option counts.
    # (8 questions: the naive reference, one sequence per option, is the slow part of these tests.)
    return load_items("mmlu:validation", limit=3) + load_items("arc_easy:test", limit=3) + load_items("piqa:validation", limit=2)


@pytest.mark.parametrize("fmt", ["cloze", "letter"])
def test_prefix_shared_equals_one_sequence_per_option(real_scorer, mixed_items, fmt):
    shared = real_scorer.featurize(mixed_items, fmt, batch_size=5)
    real_scorer.mode = "naive"  # same loaded weights, one sequence per option
    try:
        reference = real_scorer.featurize(mixed_items, fmt, batch_size=4)
    finally:
        real_scorer.mode = "shared"
    assert len({it.num_options for it in mixed_items}) >= 2
    np.testing.assert_array_equal(shared[..., -1] > 0, option_mask(mixed_items))
    np.testing.assert_allclose(shared, reference, atol=1e-4, rtol=0)


def _plain_mean_logprobs(model, tokenizer, prompt: str, continuation: str) -> tuple[float, int]:
    """Mean log p(continuation | prompt) from one unpadded, unmasked forward pass of prompt + continuation.

    Written here, apart from the backend (no packing, no masks, no batching, no column code): the
    prompt is tokenised with the tokenizer's special tokens and the continuation without, and token i
    of the continuation is scored by the logits at the position just before it."""
    import torch

    prompt_ids = tokenizer(prompt)["input_ids"]
    cont_ids = tokenizer(continuation, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logits = model(torch.tensor([prompt_ids + cont_ids])).logits[0].double()
    logprobs = torch.log_softmax(logits, dim=-1)
    at = torch.arange(len(prompt_ids) - 1, len(prompt_ids) + len(cont_ids) - 1)
    return float(logprobs[at, torch.tensor(cont_ids)].mean()), len(cont_ids)


def test_column_0_equals_an_independent_forward_pass(real_scorer, smollm_tokenizer):
    items = load_items("arc_easy:test", limit=3, seed=3) + load_items("mmlu:validation", limit=2, seed=3) \
        + load_items("piqa:validation", limit=1, seed=3)
    phi = real_scorer.featurize(items, "cloze", batch_size=4)
    model = real_scorer._model  # the loaded weights; everything else below is independent of the backend
    for i, item in enumerate(items):
        split = build_prompt(item, "cloze")
        for k, continuation in enumerate(split.continuations):
            mean, n_tokens = _plain_mean_logprobs(model, smollm_tokenizer, split.prompt, continuation)
            assert abs(phi[i, k, 0] - mean) <= 1e-4, (item.id, k, phi[i, k, 0], mean)
            assert round(phi[i, k, 1] / phi[i, k, 0]) == n_tokens, (item.id, k)  # the sum spans the same tokens


# ARC-Easy test, the seeded 200-item sample (chance 0.25 for these items: mean 1/k). Measured with the real
# SmolLM2-135M-Instruct: mean_logprob 0.435, sum_logprob 0.53, calibration 0.435 (another seed: 0.445, 0.49,
# 0.455). The standard error at n = 200 is ~0.035; each bound sits 3 SE below its measurement, and all are
# clearly above chance (0.33 is 2.6 chance-SEs above 0.25, 0.42 is 5.4), so a scorer that has lost the
# model's signal (wrong positions, wrong tokens, a broken column) fails. (MMLU is not used: this model is
# at chance on it, 0.275 on a like sample, so no bound there can tell a broken scorer from a working one.)
ARC_EASY_BOUNDS = {0: 0.33, 1: 0.42, 2: 0.33}


def test_zero_shot_cloze_accuracy_arc_easy(real_scorer):
    items = load_items("arc_easy:test", limit=200, seed=0)
    phi = real_scorer.featurize(items, "cloze")
    assert phi.shape[1] == max(it.num_options for it in items)
    for column, bound in ARC_EASY_BOUNDS.items():
        assert _accuracy(phi, items, column) >= bound, (column, _accuracy(phi, items, column))


def test_cache_hit_does_not_load_the_model(real_scorer, mixed_items, tmp_path):
    filled = cached_features(real_scorer, mixed_items, "cloze", cache_dir=tmp_path)
    assert not filled.hit
    fresh = load_scorer(d_h=64)  # same weights file, nothing loaded yet
    again = cached_features(fresh, mixed_items, "cloze", cache_dir=tmp_path)
    assert again.hit and fresh.load_count == 0 and not fresh.model_loaded
    np.testing.assert_array_equal(again.phi, filled.phi)
