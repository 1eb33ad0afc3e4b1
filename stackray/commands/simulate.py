"""`stackray simulate`: every strategy on one synthetic linear environment, side by side.

Same rounds, same features, same update and same budget for every strategy; the table shows what
each one paid, its cumulative regret over the stream (against the hidden theta*) and the held-out
accuracy of its final policy on fresh rounds from the same task.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from stackray.game import STRATEGIES, GameConfig, play, predict
from stackray.game.synthetic import SyntheticTask


def add_parser(sub) -> None:
    p = sub.add_parser("simulate", help="play every strategy on a synthetic linear environment",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--T", type=int, default=20000, help="rounds in the stream")
    p.add_argument("--beta", type=float, default=0.1, help="label budget fraction, B = floor(beta * T)")
    p.add_argument("--dim", type=int, default=10, help="feature dimension d (column 0 is the prior)")
    p.add_argument("--K", type=int, default=4, help="candidates per round")
    p.add_argument("--min-K", type=int, default=None, help="fewest candidates per round (mixed K, padded)")
    p.add_argument("--label-noise", type=float, default=0.0)
    p.add_argument("--feature-noise", type=float, default=0.1)
    p.add_argument("--eval", type=int, default=2000, help="held-out rounds for the final accuracy")
    for name, default in (("c", 1.0), ("tau", 0.0), ("alpha", 1.0), ("lam", 1.0)):
        p.add_argument(f"--{name}", type=float, default=default)
    p.add_argument("--window", type=int, default=64)
    p.add_argument("--max-wait", type=int, default=2)
    p.add_argument("--slack", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--strategies", default=",".join(STRATEGIES), help="comma-separated subset")
    p.add_argument("--json", metavar="PATH", help="also write the table as JSON")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def run(args) -> int:
    from tqdm import tqdm

    strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    if args.T < 1:
        raise ValueError(f"--T: must be >= 1, got {args.T}")
    if args.eval < 1:
        raise ValueError(f"--eval: must be >= 1, got {args.eval}")
    configs = {s: GameConfig(strategy=s, beta=args.beta, c=args.c, tau=args.tau, alpha=args.alpha, lam=args.lam,
                             window=args.window, max_wait=args.max_wait, slack=args.slack, seed=args.seed)
               for s in strategies}
    task = SyntheticTask(args.dim, args.K, feature_noise=args.feature_noise, label_noise=args.label_noise,
                         min_candidates=args.min_K, seed=args.seed)
    stream, held_out = task.sample(args.T, seed=args.seed + 1), task.sample(args.eval, seed=args.seed + 2)

    rows = []
    bar = tqdm(total=args.T * len(configs), unit="round", disable=args.no_progress, dynamic_ncols=True)
    for strategy, config in configs.items():
        bar.set_description(strategy)
        done = [0]

        def tick(played: int) -> None:
            bar.update(played - done[0])
            done[0] = played

        result = play(stream.phi, lambda t: int(stream.gold[t]), config, mask=stream.mask, progress=tick)
        accuracy = float((predict(result.theta, held_out.phi, held_out.mask) == held_out.best).mean())
        rows.append({"strategy": strategy, "labels_used": result.labels_used, "budget": result.budget,
                     "regret": float(stream.regret(result.predictions).sum()), "accuracy": accuracy})
    bar.close()
    print(format_table(rows, title=f"T={args.T} beta={args.beta} d={args.dim} K={args.K} seed={args.seed}"))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"args": vars(args) | {"func": None}, "rows": rows}, fh, indent=2)
    return 0


def format_table(rows: list[dict], title: str = "") -> str:
    head = f"{'strategy':<10} {'labels':>7} {'budget':>7} {'cum. regret':>12} {'held-out acc':>13}"
    lines = [title, head, "-" * len(head)] if title else [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['strategy']:<10} {r['labels_used']:>7d} {r['budget']:>7.0f} {r['regret']:>12.1f} "
                     f"{r['accuracy']:>13.3f}")
    return "\n".join(lines)
