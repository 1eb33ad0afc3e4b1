"""The cache on the tiny model: keys, hits, atomic files, no pickle."""

import json

import numpy as np
import pytest

from stackray.data import load_items
from stackray.scoring import FeatureCache, cached_features, load_scorer


def test_miss_then_hit_returns_the_same_array(tiny_scorer, tmp_path):
    items = load_items("piqa:validation", limit=5)
    first = cached_features(tiny_scorer, items, "cloze", cache_dir=tmp_path)
    assert not first.hit and first.path.is_file()
    second = cached_features(tiny_scorer, items, "cloze", cache_dir=tmp_path)
    assert second.hit and second.path == first.path
    np.testing.assert_array_equal(first.phi, second.phi)
    assert second.names == tiny_scorer.feature_names
    meta = json.loads(first.path.with_suffix(".json").read_text())
    assert meta["ids"] == [it.id for it in items] and meta["shape"] == list(first.phi.shape)
    assert not list(tmp_path.glob("*.tmp"))


def test_key_changes_with_format_items_and_settings(tiny_model, smollm_tokenizer, tiny_scorer):
    cache = FeatureCache("/unused")
    items = load_items("piqa:validation", limit=5)
    key = cache.key_of(cache.key_material(tiny_scorer, items, "cloze"))
    other_d = load_scorer(model=tiny_model, tokenizer=smollm_tokenizer, d_h=4)
    assert key == cache.key_of(cache.key_material(tiny_scorer, list(items), "cloze"))
    assert key != cache.key_of(cache.key_material(tiny_scorer, items, "letter"))
    assert key != cache.key_of(cache.key_material(tiny_scorer, items[:4], "cloze"))
    assert key != cache.key_of(cache.key_material(other_d, items, "cloze"))
    assert key != cache.key_of(cache.key_material(tiny_scorer, items, "cloze", data_key="abc"))


def test_corrupt_entry_is_reported(tiny_scorer, tmp_path):
    items = load_items("piqa:validation", limit=3)
    res = cached_features(tiny_scorer, items, "cloze", cache_dir=tmp_path)
    np.save(res.path, np.zeros((2, 2, 2), dtype=np.float32))
    with pytest.raises(ValueError, match="does not match its metadata"):
        cached_features(tiny_scorer, items, "cloze", cache_dir=tmp_path)


def test_env_var_sets_the_default_root(monkeypatch, tmp_path):
    monkeypatch.setenv("STACKRAY_CACHE", str(tmp_path / "c"))
    assert FeatureCache().root == tmp_path / "c"
