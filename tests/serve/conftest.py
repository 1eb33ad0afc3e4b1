"""Fixtures of the serving tests: one finished run with the real SmolLM2, made once per session.

The run is configs/smoke.yaml with 20 OpenBookQA *test* questions held out and only the `llf` strategy. Its
serve.level is 0.6 so that the served head is the learned one when the paid labels favour it at all (the
smoke run's 8 labels give p = 0.5 at best): /v1/score is then checked against a head that is not just the
zero-shot prior. Features come from the shared feature cache (STACKRAY_CACHE), so after the first session
the run costs seconds and no model load.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class FinishedRun:
    run_dir: Path
    eval_items: list  # the 20 held-out MCItems
    eval_phi: np.ndarray  # their features as the run computed them
    eval_mask: np.ndarray


@pytest.fixture(scope="session")
def finished_run(ray_local, tmp_path_factory) -> FinishedRun:
    from stackray.run import ActiveRun, load_config

    folder = tmp_path_factory.mktemp("serve_run")
    doc = yaml.safe_load((REPO / "configs" / "smoke.yaml").read_text())
    doc["data"].update(eval="openbookqa:test", eval_limit=20)
    doc.update(strategies=["llf"], run={"eval_every": 1, "progress": False}, serve={"level": 0.6})
    (folder / "smoke_serve.yaml").write_text(yaml.safe_dump(doc))
    run = ActiveRun(load_config(folder / "smoke_serve.yaml"), folder / "run")
    run.run()
    phi, mask = run.features.all("eval")
    return FinishedRun(folder / "run", list(run.eval), phi, mask)


@pytest.fixture(scope="module")
def free_port() -> int:
    """A TCP port free on 127.0.0.1 now, for one module's server."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
