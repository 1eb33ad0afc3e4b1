"""A budget sweep under Ray Tune vs the same trials in a plain in-process loop, on the demo's features.

Run:  .venv/bin/python bench/tune_speed.py [--trials 200] [--seeds 5]
      (writes the `## Tune sweep speed` section of docs/benchmarks.md)

The sweep is configs/demo_openbookqa.yaml's task (700 OpenBookQA train questions, 200 of them held out
for validation, 500 played per seed) with its game as the base, searching beta x strategy on a grid and
c, lam, lam_tail by seeded random draws: `--trials` trials of `--seeds` pool orders each. It runs
through `stackray.tune.run_sweep` exactly as `stackray tune` does (embedded Ray, `reuse_actors=True`,
one CPU per trial), features from the cache (the first run featurises them once). Then the same trials
(the knobs read back from trials.csv) are played by `run_trial` in a plain loop in this process, and
each trial's metrics are compared with Tune's (they must be equal: a trial is a pure function).

Targets: the whole sweep (features, references, trials, report) <= 5 minutes wall on 2 cores, and
Tune's trial phase <= 1.5x the plain loop.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import machine_line, write_section  # noqa: E402

from stackray.game import GameConfig  # noqa: E402
from stackray.tune import sweep_from_dict  # noqa: E402
from stackray.tune.sweep import run_sweep  # noqa: E402
from stackray.tune.tasks import featurise, load_task_items  # noqa: E402
from stackray.tune.trial import references, run_trial  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
GRID = {"beta": [0.02, 0.05, 0.1, 0.2], "strategy": ["llf", "random"]}  # 8 points; draws fill the rest
WALL_TARGET_S = 300.0
RATIO_TARGET = 1.5


def sweep_doc(trials: int, seeds: int) -> dict:
    draws = max(1, trials // 8)
    return {"name": "tune_speed", "base": str(REPO / "configs" / "demo_openbookqa.yaml"),
            "validation": {"size": 200, "seed": 0},
            "space": {**{k: {"grid": v} for k, v in GRID.items()}, "c": {"loguniform": [0.1, 2.0]},
                      "lam": {"loguniform": [3.0, 300.0]}, "lam_tail": {"choice": [0.0, 120.0, 480.0]}},
            "search": {"kind": "random", "samples": draws, "seed": 0}, "seeds": seeds, "ray": {"num_cpus": 2}}


def _value(text: str):
    try:
        return float(text)
    except ValueError:
        return text


def plain_loop(config, rows: list[dict]) -> tuple[float, int]:
    """The same trials in this process: (seconds, trials whose metrics differ from Tune's)."""
    tasks, _ = featurise(config, load_task_items(config))  # from the cache (Ray is up: misses would be scored)
    base = GameConfig(**config.game.model_dump())
    refs = references(base, tasks, config.seeds)
    knobs = list(config.space)
    start, differ = time.perf_counter(), 0
    for row in rows:
        params = {k: _value(row[k]) for k in knobs}
        if "window" in params:
            params["window"] = int(params["window"])
        m = run_trial(params, base, tasks, refs, seeds=config.seeds, level=config.serve.level,
                      metric=config.objective.metric)
        tuned = float(row["objective"])
        differ += not (math.isclose(m["objective"], tuned, rel_tol=1e-9, abs_tol=1e-12)
                       and math.isclose(m["labels_used"], float(row["labels_used"])))
    return time.perf_counter() - start, differ


def _empty_trial(config: dict, tasks=None) -> None:
    from ray import tune

    tune.report({"objective": 0.0})


def tune_floor(trials: int, tasks) -> float:
    """Seconds per trial of Tune itself on this machine now: the same Tuner settings and arrays, empty trials."""
    from ray import tune

    with tempfile.TemporaryDirectory(prefix="tune_floor-") as tmp:
        start = time.perf_counter()
        tune.Tuner(tune.with_resources(tune.with_parameters(_empty_trial, tasks=tasks), {"cpu": 1}),
                   param_space={"i": tune.grid_search(list(range(trials)))},
                   tune_config=tune.TuneConfig(reuse_actors=True),
                   run_config=tune.RunConfig(name="floor", storage_path=tmp, verbose=0)).fit()
        return (time.perf_counter() - start) / trials


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--no-write", action="store_true", help="print, do not rewrite docs/benchmarks.md")
    args = parser.parse_args()
    config = sweep_from_dict(sweep_doc(args.trials, args.seeds), source="bench/tune_speed.py", base=REPO)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="tune_speed-") as tmp:
        start = time.perf_counter()
        summary = run_sweep(config, Path(tmp) / "sweep", say=lambda line: None)
        wall = time.perf_counter() - start
        with open(Path(tmp) / "sweep" / "trials.csv", newline="") as fh:
            rows = list(csv.DictReader(fh))
        loop_s, differ = plain_loop(config, rows)
        floor_s = tune_floor(len(rows), featurise(config, load_task_items(config))[0])
    tune_s = summary["seconds"]["trials"]
    n = len(rows)
    lines = [
        machine_line(),
        "",
        f"`bench/tune_speed.py`: {n} trials x {args.seeds} seeds on the demo's OpenBookQA features "
        f"(500-question stream, 200 validation questions, d = {len(summary['feature_names'])}), features from the cache.",
        "",
        "| what | seconds | per trial | target |",
        "|---|---|---|---|",
        f"| whole sweep (`run_sweep`: Ray start, features, references, trials, report) | {wall:.1f} | | <= {WALL_TARGET_S:.0f} |",
        f"| of which: features / references / report | {summary['seconds']['features']:.1f} / "
        f"{summary['seconds']['references']:.1f} / {summary['seconds']['report']:.1f} | | |",
        f"| trials under Tune (`Tuner.fit`, reuse_actors, 1 CPU per trial) | {tune_s:.1f} | {tune_s / n * 1e3:.0f} ms | |",
        f"| the same trials in a plain in-process loop | {loop_s:.1f} | {loop_s / n * 1e3:.0f} ms | |",
        f"| Tune / plain loop | {tune_s / loop_s:.2f}x | | <= {RATIO_TARGET}x |",
        f"| Tune's floor: the same Tuner with empty trials (Tune start included) | {floor_s * len(rows):.1f} | "
        f"{floor_s * 1e3:.0f} ms | |",
        "",
        f"Trials whose metrics differ between Tune and the plain loop: {differ} of {n}. Load average (1 min) "
        f"before / after: {load_before:.1f} / {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (a machine shared "
        "with other jobs: the ratio moves with their load, so compare runs at similar load).",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section("Tune sweep speed", text)


if __name__ == "__main__":
    main()
