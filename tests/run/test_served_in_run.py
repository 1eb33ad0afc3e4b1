"""The served-head guard inside a whole run: "learned" where the labels clearly help, "prior" where they
cannot, and summary.json and heads.safetensors agree with `predict` under the served theta.

The data sets are built from the tiny model's own features so that the outcome is known in advance:
the 96 pool and 40 eval OpenBookQA questions of the tiny config, written to .jsonl with the gold answer
replaced by
- the option the zero-shot prior ranks LAST: the prior is wrong on every question, and a linear head
  fixes that (a negative weight on the prior column), so the forecasts beat the prior on many paid
  rounds and lose on none;
- the option the prior ranks FIRST: the prior is right on every question, so a forecast can tie or
  lose against it but never win, and the guard must keep the prior.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from runs import summary, tiny_config
from stackray.data import gold_array
from stackray.game import predict
from stackray.run import load_config, run_active
from stackray.run.features import FeatureSource

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def prior_scores(ray_local, tiny_model, tiny_cache, tmp_path_factory):
    """The tiny config's pool and eval items and their prior column (masked options at -inf)."""
    cfg = load_config(tiny_config(tmp_path_factory.mktemp("prior"), tiny_model, tiny_cache))
    pool, held_out = cfg.items()
    feats = FeatureSource(cfg.scoring, cfg.ray, {"pool": pool, "eval": held_out})
    try:
        prior = {name: np.where(mask, phi[:, :, 0], -np.inf) for name, (phi, mask) in
                 (("pool", feats.all("pool")), ("eval", feats.all("eval")))}
    finally:
        feats.close()
    return {"pool": pool, "eval": held_out}, prior


def _write_jsonl(path: Path, items, answers: np.ndarray) -> Path:
    rows = [{"id": it.id, "question": it.question, "options": list(it.options), "answer": int(a)}
            for it, a in zip(items, answers)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _run_with_gold(tmp_path: Path, tiny_model, tiny_cache, prior_scores, pick) -> tuple[Path, dict]:
    items, prior = prior_scores
    data = {name: str(_write_jsonl(tmp_path / f"{name}.jsonl", items[name], pick(prior[name])))
            for name in ("pool", "eval")}
    config = tiny_config(tmp_path, tiny_model, tiny_cache, strategies=["full", "zero_shot"],
                         data={"pool": data["pool"], "eval": data["eval"]})
    run_active(config, run_dir=tmp_path / "run", progress=False)
    return tmp_path / "run", load_config(config)


def _check_served_heads(run_dir: Path, config, phi_mask) -> dict:
    """served_accuracy and the stored served heads agree with predict(served theta) on the eval items."""
    doc = summary(run_dir)
    heads = load_file(run_dir / "heads.safetensors")
    _, held_out = config.items()
    phi, mask = phi_mask
    gold = gold_array(held_out)
    rows = {r["strategy"]: r for r in doc["rows"]}
    for s, row in rows.items():
        expected = heads[f"{s}/theta"] if row["served"] == "learned" else heads["theta0"]
        np.testing.assert_array_equal(heads[f"{s}/served"], expected, err_msg=s)
        served_acc = float(np.mean(predict(heads[f"{s}/served"], phi, mask) == gold))
        assert row["served_accuracy"] == pytest.approx(served_acc), s
        assert row["accuracy"] == pytest.approx(float(np.mean(predict(heads[f"{s}/theta"], phi, mask) == gold))), s
    return rows


def _eval_features(config):
    _, held_out = config.items()
    feats = FeatureSource(config.scoring, config.ray, {"eval": held_out})
    try:
        return feats.all("eval")
    finally:
        feats.close()


def test_labels_that_help_are_served(prior_scores, tiny_model, tiny_cache, tmp_path):
    run_dir, config = _run_with_gold(tmp_path, tiny_model, tiny_cache, prior_scores, lambda p: p.argmin(axis=1))
    rows = _check_served_heads(run_dir, config, _eval_features(config))
    full = rows["full"]
    assert full["served"] == "learned", full["head_choice"]
    assert full["head_choice"]["wins"] > 0 and full["head_choice"]["losses"] == 0  # the prior is never right
    assert summary(run_dir)["zero_shot_accuracy"] == 0.0
    assert full["served_accuracy"] == full["accuracy"] > 0.5  # the learned head undid the prior
    assert rows["zero_shot"]["served"] == "prior"


def test_labels_that_cannot_help_keep_the_prior(prior_scores, tiny_model, tiny_cache, tmp_path):
    run_dir, config = _run_with_gold(tmp_path, tiny_model, tiny_cache, prior_scores, lambda p: p.argmax(axis=1))
    rows = _check_served_heads(run_dir, config, _eval_features(config))
    full = rows["full"]
    assert full["served"] == "prior", full["head_choice"]
    assert full["head_choice"]["wins"] == 0 and full["head_choice"]["paid_rounds"] == 96
    assert full["served_accuracy"] == summary(run_dir)["zero_shot_accuracy"] == 1.0
