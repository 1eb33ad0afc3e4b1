"""One trial of a sweep: a game config played over seeded orders of each task's stream, scored on validation.

Pure numpy on arrays (no Ray, no model): Tune's trainable (stackray.tune.sweep) and the plain loop of
bench/tune_speed.py call the same `run_trial`, so the two measure the same work.

Per task and seed s the stream is played in the order of permutation s with `GameConfig.seed` = s
(the `random` baseline's draws), the oracle answering from gold. Then:
  - val_accuracy: the learned theta on the validation split;
  - served / served_accuracy: the head the run's guard serves (stackray.run.served_head.guard, the one
    `stackray run` uses) and its validation accuracy (the prior's when the guard keeps it);
  - gain_retained: (accuracy - zero-shot) / (full - zero-shot), `full` being every stream round
    labelled under the sweep's base game settings on the same orders (References).
A trial's numbers are means over seeds; over tasks labels are summed and accuracies aggregated by
`objective.tasks` (mean or min), and `objective` is the aggregated `objective.metric`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from stackray.game import GameConfig, play, predict
from stackray.run.served_head import guard
from stackray.tune.tasks import Split, TaskArrays

PER_TASK = ("labels_used", "val_accuracy", "served_accuracy", "gain_retained", "served_learned")


@dataclass(frozen=True)
class SeedPlay:
    theta: np.ndarray
    labels_used: int
    served: str  # "learned" or "prior"


@dataclass(frozen=True)
class References:
    """Per task: the zero-shot prior's and `full`'s validation accuracy (full: mean over the seeds)."""

    zero_shot: dict[str, float]
    full: dict[str, float]


def order(n: int, seed: int) -> np.ndarray:
    """The seeded pool order a trial seed plays (the same for every trial, so trials are paired)."""
    return np.random.default_rng(10_000 + seed).permutation(n)


def play_seed(config: GameConfig, task: TaskArrays, seed: int, level: float) -> SeedPlay:
    """The game over the stream in seed `seed`'s order, and the head the guard would serve."""
    rows = order(len(task.stream), seed)
    phi, mask, gold = task.stream.phi[rows], task.stream.mask[rows], task.stream.gold[rows]
    result = play(phi, lambda t: int(gold[t]), replace(config, seed=seed), mask)
    paid = np.nonzero(result.queried)[0]
    choice = guard(phi, mask, paid, gold[paid], result.paid_at[paid], config, level, audited=result.audited[paid])
    return SeedPlay(result.theta, result.labels_used, choice.head)


def prior(config: GameConfig, dim: int) -> np.ndarray:
    theta0 = np.zeros(dim)
    theta0[config.prior_index] = 1.0
    return theta0


def accuracy(theta: np.ndarray, split: Split) -> float:
    return float(np.mean(predict(theta, split.phi, split.mask) == split.gold))


def references(base: GameConfig, tasks: list[TaskArrays], seeds: int, split: str = "val") -> References:
    """Zero-shot and `full` on each task's `split`, under the sweep's base game settings."""
    full = replace(base, strategy="full")
    zero = {t.name: accuracy(prior(base, t.val.phi.shape[2]), getattr(t, split)) for t in tasks}
    best = {t.name: float(np.mean([accuracy(play_seed(full, t, s, 1.0).theta, getattr(t, split)) for s in range(seeds)]))
            for t in tasks}
    return References(zero, best)


def task_metrics(config: GameConfig, task: TaskArrays, seeds: int, level: float, refs: References,
                 split: str = "val") -> dict[str, float]:
    """One task's numbers, means over the seeds (`split`: "val", or "test" for a chosen config)."""
    scored = getattr(task, split)
    theta0_acc = accuracy(prior(config, scored.phi.shape[2]), scored)
    plays = [play_seed(config, task, s, level) for s in range(seeds)]
    acc = [accuracy(p.theta, scored) for p in plays]
    served = [a if p.served == "learned" else theta0_acc for p, a in zip(plays, acc)]
    zero, full = refs.zero_shot[task.name], refs.full[task.name]
    mean_acc = float(np.mean(acc))
    return {"labels_used": float(np.mean([p.labels_used for p in plays])), "val_accuracy": mean_acc,
            "served_accuracy": float(np.mean(served)),
            "gain_retained": (mean_acc - zero) / (full - zero) if full != zero else float("nan"),
            "served_learned": float(sum(p.served == "learned" for p in plays))}


def run_trial(params: dict, base: GameConfig, tasks: list[TaskArrays], refs: References, *, seeds: int, level: float,
              metric: str, aggregate: str = "mean") -> dict[str, float]:
    """The metrics of one trial's config (`params` over the base game): per task `<task>/<metric>`, and overall."""
    config = replace(base, **params)
    per_task = {t.name: task_metrics(config, t, seeds, level, refs) for t in tasks}
    combine = np.mean if aggregate == "mean" else np.min
    out = {f"{name}/{key}": value for name, m in per_task.items() for key, value in m.items()}
    out["labels_used"] = float(sum(m["labels_used"] for m in per_task.values()))
    out["served_learned"] = float(sum(m["served_learned"] for m in per_task.values()))
    for key in ("val_accuracy", "served_accuracy", "gain_retained"):
        out[key] = float(combine([m[key] for m in per_task.values()]))
    out["objective"] = out[metric]
    return out
