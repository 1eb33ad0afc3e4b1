"""A finished sweep's directory: every trial, the exact front, one runnable config per β, the test check.

Files (next to sweep.yaml and Tune's own `tune/` experiment):
  - trials.csv, trials.md: one row per trial: its knobs, labels used, the validation metrics, on_front;
  - front.png: every trial (labels used vs the objective), the front, `random`'s curve, zero-shot and full;
  - best_beta_<β>.yaml (best_beta_<β>_<task>.yaml with several tasks): for each β on the front, the front's
    best trial as a run config that `stackray run` accepts unchanged (checked by loading it before writing);
  - test.md, and summary.json: the chosen configs replayed on the same seeded orders and scored on each
    task's test split. This is the only place a test split is read, after every choice was made.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
import yaml

from stackray.game import GameConfig
from stackray.io import atomic_write, atomic_write_text
from stackray.run.config import config_from_dict
from stackray.tune.config import SweepConfig
from stackray.tune.front import pareto_front
from stackray.tune.journal import metrics_of
from stackray.tune.tasks import TaskArrays
from stackray.tune.trial import References, references, run_trial, task_metrics

METRIC_COLUMNS = ("labels_used", "val_accuracy", "served_accuracy", "gain_retained", "served_learned", "objective")


def trial_rows(grid: Any, knobs: list[str]) -> list[dict]:
    """One row per finished trial of a ResultGrid (unfinished trials have no metrics and are left out)."""
    rows = []
    for result in grid:
        m = result.metrics or {}
        if "objective" not in m:
            continue
        row = {"trial": m["trial_id"], **{k: result.config[k] for k in knobs}}
        row.update(metrics_of(m, METRIC_COLUMNS))
        rows.append(row)
    return sorted(rows, key=lambda r: r["trial"])


def _beta(row: dict, base: GameConfig) -> float:
    return float(row.get("beta", base.beta))


def chosen_per_beta(rows: list[dict], front: np.ndarray, base: GameConfig) -> list[dict]:
    """For each β on the front, its best front trial (highest objective; then fewer labels)."""
    best: dict[float, dict] = {}
    for i in front:
        row, b = rows[int(i)], _beta(rows[int(i)], base)
        if b not in best or (row["objective"], -row["labels_used"]) > (best[b]["objective"], -best[b]["labels_used"]):
            best[b] = row
    return [best[b] for b in sorted(best)]


def _table(rows: list[dict], columns: list[str]) -> str:
    def cell(v: Any) -> str:
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def write_trials(sweep_dir: Path, rows: list[dict]) -> None:
    columns = list(dict.fromkeys(k for r in rows for k in r))
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(sweep_dir / "trials.csv", text.getvalue())
    short = [c for c in columns if "/" not in c]
    atomic_write_text(sweep_dir / "trials.md", f"# Trials ({len(rows)})\n\n" + _table(rows, short))


def run_config_doc(config: SweepConfig, task_index: int, row: dict, base: GameConfig, knobs: list[str]) -> dict:
    """A chosen trial as a `stackray run` config: the task's data, the sweep's scoring, the trial's game."""
    game = replace(base, **{k: row[k] for k in knobs}).to_dict()
    strategy = game.pop("strategy")
    task = config.tasks[task_index]  # type: ignore[index]
    return {"name": f"{config.name}_beta_{_beta(row, base):g}" + (f"_{task.name}" if len(config.tasks) > 1 else ""),
            "data": task.data.model_dump(mode="json", exclude_none=True),
            "scoring": config.scoring.model_dump(mode="json", exclude_none=True), "game": game,
            "strategies": [strategy] + (["zero_shot"] if strategy != "zero_shot" else []),
            "serve": config.serve.model_dump(mode="json")}


def write_best(sweep_dir: Path, config: SweepConfig, chosen: list[dict], base: GameConfig, knobs: list[str]) -> list[Path]:
    paths = []
    for row in chosen:
        for t, task in enumerate(config.tasks or ()):
            doc = run_config_doc(config, t, row, base, knobs)
            suffix = f"_{task.name}" if len(config.tasks) > 1 else ""
            path = sweep_dir / f"best_beta_{_beta(row, base):g}{suffix}.yaml"
            config_from_dict(doc, source=str(path))  # what stackray run will load: refuse to write one it would reject
            header = (f"# stackray run {path}\n# chosen by the sweep {config.name} ({sweep_dir}) on validation "
                      f"{config.objective.metric}: trial {row['trial']}, objective {row['objective']:.4f}, "
                      f"labels used {row['labels_used']:.1f} (mean of {config.seeds} pool orders)\n")
            atomic_write_text(path, header + yaml.safe_dump(doc, sort_keys=False))
            paths.append(path)
    return paths


def score_on_test(config: SweepConfig, chosen: list[dict], tasks: list[TaskArrays], base: GameConfig,
                 knobs: list[str]) -> list[dict]:
    """The chosen configs on each task's test split (same seeds and orders as the trials)."""
    tested = [t for t in tasks if t.test is not None]
    if not tested:
        return []
    refs = references(base, tested, config.seeds, split="test")
    out = []
    for row in chosen:
        game = replace(base, **{k: row[k] for k in knobs})
        for t in tested:
            m = task_metrics(game, t, config.seeds, config.serve.level, refs, split="test")
            out.append({"trial": row["trial"], "beta": _beta(row, base), "task": t.name, "labels_used": m["labels_used"],
                        "test_accuracy": m["val_accuracy"], "served_test_accuracy": m["served_accuracy"],
                        "gain_retained": m["gain_retained"], "served_learned": m["served_learned"],
                        "zero_shot": refs.zero_shot[t.name], "full": refs.full[t.name]})
    return out


def random_curve(config: SweepConfig, tasks: list[TaskArrays], base: GameConfig, refs: References,
                 betas: list[float]) -> list[tuple[float, float]]:
    """`random` under the base game at each β: (labels used, objective), for the picture."""
    points = []
    for b in sorted(set(betas)):
        m = run_trial({"strategy": "random", "beta": b}, base, tasks, refs, seeds=config.seeds,
                      level=config.serve.level, metric=config.objective.metric, aggregate=config.objective.tasks)
        points.append((m["labels_used"], m["objective"]))
    return points


def draw_front(path: Path, rows: list[dict], front: np.ndarray, curve: list[tuple[float, float]],
               lines: dict[str, float], title: str, metric: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    labels = np.array([r["labels_used"] for r in rows])
    score = np.array([r["objective"] for r in rows])
    ax.scatter(labels, score, s=14, alpha=0.45, color="tab:gray", label=f"trials ({len(rows)})")
    ax.step(labels[front], score[front], where="post", color="tab:blue", marker="o", ms=5, label="Pareto front")
    if curve:
        ax.plot(*zip(*curve), color="tab:orange", marker="s", ms=4, label="random (base game)")
    for (name, value), style in zip(lines.items(), ("--", ":")):
        ax.axhline(value, color="black", ls=style, lw=1, label=name)
    ax.set_xlabel("labels used (mean over pool orders)")
    ax.set_ylabel(f"validation {metric}")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    try:
        atomic_write(path, lambda fh: fig.savefig(fh, format="png", dpi=100))
    finally:
        plt.close(fig)


def write_all(sweep_dir: Path, config: SweepConfig, rows: list[dict], tasks: list[TaskArrays], base: GameConfig,
              refs: References, names: list[str], say: Callable[[str], None]) -> dict:
    """Every file of a finished sweep; returns (and writes) summary.json's content."""
    knobs = list(config.space)
    front = pareto_front([r["labels_used"] for r in rows], [r["objective"] for r in rows])
    on_front = set(front.tolist())
    rows = [{**r, "on_front": i in on_front} for i, r in enumerate(rows)]
    write_trials(sweep_dir, rows)
    chosen = chosen_per_beta(rows, front, base)
    best = write_best(sweep_dir, config, chosen, base, knobs)
    tested = score_on_test(config, chosen, tasks, base, knobs)
    agg = np.mean if config.objective.tasks == "mean" else np.min
    lines = ({"zero-shot": float(agg(list(refs.zero_shot.values()))), "full": float(agg(list(refs.full.values())))}
             if config.objective.metric != "gain_retained" else {"zero-shot": 0.0, "full": 1.0})
    curve = random_curve(config, tasks, base, refs, [_beta(r, base) for r in rows])
    draw_front(sweep_dir / "front.png", rows, front, curve, lines, f"{config.name}: {', '.join(t.name for t in tasks)}",
               config.objective.metric)
    atomic_write_text(sweep_dir / "test.md", "# The chosen configs on the test split\n\n"
                      + (_table(tested, list(tested[0])) if tested else "no task has a test split (data.eval)\n"))
    summary = {"name": config.name, "sweep_dir": str(sweep_dir), "trials": len(rows), "feature_names": names,
               "references": {"zero_shot": refs.zero_shot, "full": refs.full},
               "front": [rows[int(i)] for i in front], "chosen": [str(p) for p in best], "test": tested,
               "random_curve": curve}
    atomic_write_text(sweep_dir / "summary.json", json.dumps(summary, indent=1, sort_keys=True) + "\n")
    say(f"{len(rows)} trials, {len(front)} on the front; {sweep_dir / 'trials.md'}, {sweep_dir / 'front.png'}")
    for row, path in zip(chosen, best):
        say(f"beta {_beta(row, base):g}: labels {row['labels_used']:.1f}, val {row['objective']:.3f} -> stackray run {path}")
    for t in tested:
        say(f"  test ({t['task']}, beta {t['beta']:g}): acc {t['test_accuracy']:.3f}, served {t['served_test_accuracy']:.3f} "
            f"(zero-shot {t['zero_shot']:.3f}, full {t['full']:.3f})")
    return summary
