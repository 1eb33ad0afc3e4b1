"""LLF against the baselines on the synthetic linear environment, for several gate thresholds c.

Run:  .venv/bin/python bench/synthetic_gate.py     (writes `## Synthetic environment: gate threshold`)

Mean over seeds of cumulative regret (vs the hidden theta*) and labels used, at beta = 0.1.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import machine_line, write_section  # noqa: E402

from stackray.game import GameConfig, play  # noqa: E402
from stackray.game.synthetic import SyntheticTask  # noqa: E402

SEEDS, BETA, DIM = 10, 0.1, 10
ARMS = [("llf", dict(c=c)) for c in (0.1, 0.25, 0.5, 1.0)] + [(s, {}) for s in ("random", "margin", "entropy", "passive", "full", "zero_shot")]


def main() -> None:
    lines = [f"d = {DIM}, K = 4, window = 64, beta = {BETA}, label noise 0, mean over {SEEDS} seeds "
             f"(task seed = s, stream seed = s + 100). {machine_line()}", ""]
    for T in (4000, 20000):
        lines += [f"T = {T} (budget {int(BETA * T)}):", "", "| strategy | c | cum. regret | labels used |", "|---|---|---|---|"]
        for strategy, kw in ARMS:
            regret, labels = [], []
            for seed in range(SEEDS):
                stream = SyntheticTask(dim=DIM, seed=seed).sample(T, seed=seed + 100)
                cfg = GameConfig(strategy=strategy, beta=BETA, seed=seed, **kw)
                result = play(stream.phi, lambda t: int(stream.gold[t]), cfg, mask=stream.mask)
                regret.append(stream.regret(result.predictions).sum())
                labels.append(result.labels_used)
            c = kw.get("c", "") if strategy == "llf" else ""
            lines.append(f"| {strategy} | {c} | {np.mean(regret):.1f} | {np.mean(labels):.0f} |")
            print(T, strategy, kw, np.mean(regret), np.mean(labels))
        lines.append("")
    write_section("Synthetic environment: gate threshold", "\n".join(lines) +
                  "\nReproduce: `.venv/bin/python bench/synthetic_gate.py`.")


if __name__ == "__main__":
    main()
