"""The sweep the tune tests run: configs/smoke.yaml's task and features (40 OpenBookQA questions, 20 test)."""

from __future__ import annotations

import itertools
from pathlib import Path

import yaml

SMOKE = Path(__file__).resolve().parents[2] / "configs" / "smoke.yaml"
GRID = {"beta": [0.1, 0.2], "c": [0.25, 1.0], "strategy": ["llf", "random"]}  # 8 trials


def smoke_sweep(folder: Path, **overrides) -> Path:
    """A grid sweep of 8 trials over the smoke config's features, 2 pool orders each, 12 validation items."""
    doc = {"name": "smoke_sweep", "base": str(SMOKE), "validation": {"size": 12, "seed": 0},
           "space": {k: {"grid": v} for k, v in GRID.items()}, "search": {"kind": "grid"}, "seeds": 2}
    doc.update(overrides)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "sweep.in.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def grid_points() -> list[tuple]:
    return sorted(itertools.product(*GRID.values()))


def points_of(rows: list[dict]) -> list[tuple]:
    """The grid point of each trials.csv row (values as the CSV holds them: strings)."""
    return sorted((float(r["beta"]), float(r["c"]), r["strategy"]) for r in rows)
