"""Shapes, columns, padding and errors on a tiny random model (fast; the real model is in test_scorer_real)."""

import numpy as np
import pytest

from stackray.data import MCItem, load_items, option_mask
from stackray.scoring import load_scorer
from stackray.scoring.prompts import build_prompt

MIXED = [
    MCItem("a", "Which is a fruit?", ("apple", "chair")),
    MCItem("b", "Pick the largest number.", ("one", "two hundred and twelve", "three", "four", "five")),
    MCItem("c", "Sky colour?", ("blue", "green", "red")),
]


def test_shapes_names_bias_and_zero_padding(tiny_scorer):
    phi = tiny_scorer.featurize(MIXED, "cloze")
    names = tiny_scorer.feature_names
    assert phi.dtype == np.float32 and phi.shape == (3, 5, 3 + 8 + 1) and len(names) == phi.shape[2]
    assert names[:3] == ["mean_logprob", "sum_logprob", "calibration"] and names[3] == "hidden_000"
    assert names[-1] == "bias"
    mask = option_mask(MIXED)
    np.testing.assert_array_equal(phi[..., -1] > 0, mask)
    assert np.all(phi[~mask] == 0.0)
    valid = phi[mask]
    assert np.all(np.isfinite(valid)) and np.all(valid[:, 1] < 0)
    assert np.all(valid[:, 1] <= valid[:, 0] + 1e-6)  # sum <= mean for log-probs over >= 1 token
    np.testing.assert_allclose(np.sqrt((valid[:, 3:-1] ** 2).mean(axis=1)), 1.0, rtol=1e-4)  # unit-RMS hidden


def test_mean_is_sum_over_token_count(tiny_scorer):
    phi = tiny_scorer.featurize(MIXED[:1], "cloze")
    split = build_prompt(MIXED[0], "cloze")
    tiny_scorer.ensure_loaded()
    _, conts = tiny_scorer.tokenize_split(split)
    np.testing.assert_allclose(phi[0, :2, 0], phi[0, :2, 1] / np.array([len(c) for c in conts]), rtol=1e-5)


def test_shared_equals_naive_and_batch_size_does_not_change_features(tiny_model, smollm_tokenizer):
    items = load_items("arc_easy:test", limit=6) + MIXED
    shared = load_scorer(model=tiny_model, tokenizer=smollm_tokenizer, d_h=8, num_threads=1)
    naive = load_scorer(model=tiny_model, tokenizer=smollm_tokenizer, d_h=8, num_threads=1, mode="naive")
    a = shared.featurize(items, "letter", batch_size=4)
    b = naive.featurize(items, "letter", batch_size=3)
    c = shared.featurize(items, "letter", batch_size=1)
    np.testing.assert_allclose(a, b, atol=1e-4)
    np.testing.assert_allclose(a, c, atol=1e-4)


def test_full_hidden_width_when_d_h_is_none(tiny_model, smollm_tokenizer):
    scorer = load_scorer(model=tiny_model, tokenizer=smollm_tokenizer, d_h=None)
    assert scorer.featurize(MIXED, "cloze").shape == (3, 5, 3 + 64 + 1)


def test_projection_is_seeded(tiny_model, smollm_tokenizer):
    one = load_scorer(model=tiny_model, tokenizer=smollm_tokenizer, d_h=8, seed=1).featurize(MIXED, "cloze")
    same = load_scorer(model=tiny_model, tokenizer=smollm_tokenizer, d_h=8, seed=1).featurize(MIXED, "cloze")
    other = load_scorer(model=tiny_model, tokenizer=smollm_tokenizer, d_h=8, seed=2).featurize(MIXED, "cloze")
    np.testing.assert_array_equal(one, same)
    np.testing.assert_array_equal(one[..., :3], other[..., :3])
    assert not np.allclose(one[..., 3:-1], other[..., 3:-1])


def test_bad_input_errors(tiny_scorer, tiny_model, smollm_tokenizer):
    with pytest.raises(ValueError, match="at least one item"):
        tiny_scorer.featurize([], "cloze")
    with pytest.raises(ValueError, match="unknown prompt format 'essay'"):
        tiny_scorer.featurize(MIXED, "essay")
    with pytest.raises(ValueError, match="unknown scorer backend 'onnx'"):
        load_scorer("onnx")
    with pytest.raises(ValueError, match="unknown scoring mode"):
        load_scorer(model=tiny_model, tokenizer=smollm_tokenizer, mode="fast")
    with pytest.raises(ValueError, match="needs its tokenizer"):
        load_scorer(model=tiny_model)
    with pytest.raises(ValueError, match="does not exist"):
        load_scorer(model="/no/such/model")
    with pytest.raises(ValueError, match="batch_size must be positive"):
        tiny_scorer.featurize(MIXED, "cloze", batch_size=0)
