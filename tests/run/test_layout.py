"""Checkpoints: exact round trip, LATEST names the newest complete pair, corruption is detected."""

import numpy as np
import pytest

from stackray.run.layout import CHECKPOINTS, KEEP, load_checkpoint, save_checkpoint


def test_round_trip_is_exact_and_old_ones_are_pruned(tmp_path):
    assert load_checkpoint(tmp_path) is None
    rng = np.random.default_rng(0)
    for w in range(4):
        arrays = {"llf/leader.A_inv": rng.standard_normal((5, 5)), "llf/record.paid_at": np.arange(7) - w}
        save_checkpoint(tmp_path, w, arrays, {"games": {"llf": {"played": w}}, "metrics": [{"w": w}]})
    got, meta = load_checkpoint(tmp_path)
    assert meta["window"] == 3 and meta["metrics"] == [{"w": 3}]
    assert np.array_equal(got["llf/leader.A_inv"], arrays["llf/leader.A_inv"])
    assert got["llf/record.paid_at"].dtype == np.int64
    assert len(list((tmp_path / CHECKPOINTS).glob("ckpt-*.json"))) == KEEP


def test_corrupt_checkpoint_is_refused(tmp_path):
    save_checkpoint(tmp_path, 0, {"x": np.ones(3)}, {})
    blob = next((tmp_path / CHECKPOINTS).glob("*.safetensors"))
    data = bytearray(blob.read_bytes())
    data[-1] ^= 0xFF
    blob.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="sha256"):
        load_checkpoint(tmp_path)
