"""`stackray simulate`: every strategy on one synthetic linear environment, side by side.

Same rounds, same features, same update and same budget for every strategy; the table shows what
each one paid, its cumulative regret over the stream (against the hidden theta*) and the held-out
accuracy of its final policy on fresh rounds from the same task.

The game's flags (--beta, --window, --negatives, ...) are generated from GameConfig's fields, with
their defaults and docs, so a knob added to the game is a flag here without a second copy to drift.
"""

from __future__ import annotations

import argparse
import json

from stackray.game import STRATEGIES, GameConfig, play, predict
from stackray.game.config import knobs
from stackray.game.synthetic import SyntheticTask


def add_parser(sub) -> None:
    p = sub.add_parser("simulate", help="play every strategy on a synthetic linear environment",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--T", type=int, default=20000, help="rounds in the stream")
    p.add_argument("--dim", type=int, default=10, help="feature dimension d (column 0 is the prior)")
    p.add_argument("--K", type=int, default=4, help="candidates per round")
    p.add_argument("--min-K", type=int, default=None, help="fewest candidates per round (mixed K, padded)")
    p.add_argument("--label-noise", type=float, default=0.0, help="scale of the Gumbel noise on the gold answer (0: noiseless labels)")
    p.add_argument("--feature-noise", type=float, default=0.1, help="std of the noise on the latent features")
    p.add_argument("--eval", type=int, default=2000, help="held-out rounds for the final accuracy")
    add_game_flags(p)
    p.add_argument("--strategies", default=",".join(STRATEGIES), help="comma-separated subset")
    p.add_argument("--json", metavar="PATH", help="also write the table as JSON")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


# what a game knob also does in this command, beyond its meaning in GameConfig
_ALSO = {"seed": "; here it also seeds the synthetic task and its streams",
         "prior_index": "; the synthetic task's prior is column 0"}


def add_game_flags(p: argparse.ArgumentParser) -> None:
    """One flag per GameConfig field but `strategy` (--max-wait for max_wait), typed, with its default and doc."""
    for f, hint in knobs():
        if hint not in (int, float, str):
            raise TypeError(f"GameConfig.{f.name}: no command-line flag for a {hint} field")
        p.add_argument(f"--{f.name.replace('_', '-')}", type=hint, default=f.default,
                       help=f.metadata["doc"] + _ALSO.get(f.name, ""))


def game_configs(args: argparse.Namespace, strategies: list[str]) -> dict[str, GameConfig]:
    """The GameConfig of each strategy from the parsed game flags (GameConfig judges their values)."""
    values = {f.name: getattr(args, f.name) for f, _ in knobs()}
    return {s: GameConfig(strategy=s, **values) for s in strategies}


def run(args) -> int:
    from stackray.progress import progress_bar

    strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    if args.T < 1:
        raise ValueError(f"--T: must be >= 1, got {args.T}")
    if args.eval < 1:
        raise ValueError(f"--eval: must be >= 1, got {args.eval}")
    configs = game_configs(args, strategies)
    task = SyntheticTask(args.dim, args.K, feature_noise=args.feature_noise, label_noise=args.label_noise,
                         min_candidates=args.min_K, seed=args.seed)
    stream, held_out = task.sample(args.T, seed=args.seed + 1), task.sample(args.eval, seed=args.seed + 2)

    rows = []
    bar = progress_bar(total=args.T * len(configs), unit="round", disable=args.no_progress, dynamic_ncols=True)
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
            game = next(iter(configs.values())).to_dict() if configs else {}
            json.dump({"args": vars(args) | {"func": None}, "game": game, "rows": rows}, fh, indent=2)
    return 0


def format_table(rows: list[dict], title: str = "") -> str:
    head = f"{'strategy':<10} {'labels':>7} {'budget':>7} {'cum. regret':>12} {'held-out acc':>13}"
    lines = [title, head, "-" * len(head)] if title else [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['strategy']:<10} {r['labels_used']:>7d} {r['budget']:>7.0f} {r['regret']:>12.1f} "
                     f"{r['accuracy']:>13.3f}")
    return "\n".join(lines)
