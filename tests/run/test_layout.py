"""Checkpoints: exact round trip, LATEST names the newest complete pair, a damaged newest one falls back
to the one before it (and says so), and when none is intact the error says how to recover."""

import numpy as np
import pytest

from stackray.run.layout import CHECKPOINTS, KEEP, LATEST, checkpoint_problems, load_checkpoint, save_checkpoint


def test_round_trip_is_exact_and_old_ones_are_pruned(tmp_path):
    assert load_checkpoint(tmp_path) is None
    rng = np.random.default_rng(0)
    for w in range(4):
        arrays = {"llf/leader.A_inv": rng.standard_normal((5, 5)), "llf/record.paid_at": np.arange(7) - w}
        save_checkpoint(tmp_path, w, arrays, {"games": {"llf": {"played": w}}, "metrics": [{"w": w}]})
    found = load_checkpoint(tmp_path)
    assert found.meta["window"] == 3 and found.meta["metrics"] == [{"w": 3}] and found.skipped == []
    assert found.name == "ckpt-000003"
    assert np.array_equal(found.arrays["llf/leader.A_inv"], arrays["llf/leader.A_inv"])
    assert found.arrays["llf/record.paid_at"].dtype == np.int64
    assert KEEP >= 2 and len(list((tmp_path / CHECKPOINTS).glob("ckpt-*.json"))) == KEEP
    assert checkpoint_problems(tmp_path) == []


def _flip_last_byte(path):
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))


def test_a_corrupt_newest_checkpoint_falls_back_to_the_one_before(tmp_path):
    for w in range(3):
        save_checkpoint(tmp_path, w, {"x": np.full(3, float(w))}, {})
    _flip_last_byte(tmp_path / CHECKPOINTS / "ckpt-000002.safetensors")
    found = load_checkpoint(tmp_path)
    assert found.meta["window"] == 1 and np.array_equal(found.arrays["x"], np.ones(3))
    assert len(found.skipped) == 1 and "ckpt-000002.safetensors: its sha256 does not match" in found.skipped[0]
    assert [p.split(":")[0].rsplit("/", 1)[-1] for p in checkpoint_problems(tmp_path)] == ["ckpt-000002.safetensors"]


def test_latest_naming_a_missing_checkpoint_falls_back_too(tmp_path):
    save_checkpoint(tmp_path, 0, {"x": np.ones(3)}, {})
    (tmp_path / CHECKPOINTS / LATEST).write_text("ckpt-000007\n")
    found = load_checkpoint(tmp_path)
    assert found.meta["window"] == 0 and "ckpt-000007" in found.skipped[0]


def test_no_intact_checkpoint_is_refused_saying_how_to_recover(tmp_path):
    save_checkpoint(tmp_path, 0, {"x": np.ones(3)}, {})
    _flip_last_byte(next((tmp_path / CHECKPOINTS).glob("*.safetensors")))
    with pytest.raises(ValueError, match=r"no intact checkpoint \(.*sha256.*\); to replay the run from its start .* move"):
        load_checkpoint(tmp_path)
