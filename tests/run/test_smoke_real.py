"""configs/smoke.yaml end to end with the REAL SmolLM2 (40 OpenBookQA questions, 20 held out).

The one run test that loads the real model (~20-30 s on 2 cores): it checks that the ScorerActor
loads the model exactly once, that the features are the LM's (the prior column is a mean token
log-prob, so every real candidate's value is negative), and that the run reports every strategy.
"""

from pathlib import Path

import numpy as np
import pytest
import yaml

from runs import ledger, summary
from stackray.run import ActiveRun, load_config

pytestmark = pytest.mark.slow
SMOKE = Path(__file__).resolve().parents[2] / "configs" / "smoke.yaml"


def test_smoke_config_with_the_real_model(ray_local, tmp_path):
    doc = yaml.safe_load(SMOKE.read_text())
    doc["scoring"]["cache_dir"] = str(tmp_path / "cache")  # featurise for real, whatever is cached elsewhere
    doc["run"] = {**doc.get("run", {}), "progress": False}
    (tmp_path / "smoke.yaml").write_text(yaml.safe_dump(doc))
    run = ActiveRun(load_config(tmp_path / "smoke.yaml"), tmp_path / "run")
    infos = {}
    run.run(on_window=lambda stage, k: infos.update(scorers=run.features.scorer_info()) if stage == "checkpointed" else None)
    assert sum(i["loads"] for i in infos["scorers"]) == 1  # one replica, loaded once
    phi, mask = run.features.all("pool")
    assert phi.shape == (40, 4, 3 + 64 + 1)
    assert np.all(phi[..., 0][mask] < 0)  # mean token log-prob of each option
    assert np.all(phi[..., -1][mask] == 1.0)
    rows = {r["strategy"]: r for r in summary(tmp_path / "run")["rows"]}
    assert rows["full"]["labels_used"] == 40 and rows["zero_shot"]["labels_used"] == 0
    assert 0 < rows["llf"]["labels_used"] <= 8 and len(ledger(tmp_path / "run" / "llf")) == rows["llf"]["labels_used"]
    assert all(0.0 <= r["accuracy"] <= 1.0 for r in rows.values())
