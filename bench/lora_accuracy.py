"""LoRA on the paid labels vs the head alone: held-out accuracy at beta = 0.1, paired by seed.

    PYTHONPATH=. python bench/lora_accuracy.py --seeds 3 [--set openbookqa|arc_easy] [--threads 2] [--split test|dev] [--lr X]
        [--pairwise-weight W] [--out bench/results/lora_accuracy.json]

Per seed s: the pool (openbookqa: the demo's 700 train questions and 300 test questions; arc_easy: the
label-efficiency report's 600 train and 400 test questions) in the order of permutation 100 + s is the
stream; llf plays it on the base model's cached features with the demo's game settings (beta = 0.1);
then, on the same paid labels,

- head alone: llf's theta on the base features (what the demo serves today);
- LoRA alone: a LoRA phase trained on the paid labels (the run's trainer, the demo's lora settings,
  alternatives = the 3 hardest under llf's final theta), zero-shot prior theta0 on the adapted features;
- LoRA + refit head: the leader refit from the paid labels on the adapted features.

`--split test` (the report): accuracy on the set's test questions. `--split dev` (for choosing the
lora settings, e.g. `--lr`): accuracy on 200 of the seed's own unpaid pool questions, never the test split.
Base features come from the shared feature cache (run `make demo` first); adapted features are scored here
into a private cache folder. It also records the wall time of each phase (training only) on this machine,
and the load average while it ran.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from label_efficiency_ablations import load_cached  # noqa: E402

from stackray.data import gold_array, load_items, option_mask  # noqa: E402
from stackray.game import play, predict  # noqa: E402
from stackray.run import config_from_dict, load_config  # noqa: E402
from stackray.game.leader import replay_leader  # noqa: E402
from stackray.run.lora_phases import hardest_alternatives  # noqa: E402
from stackray.scoring import FeatureCache, load_scorer  # noqa: E402
from stackray.train import LoraSettings, LoraTrainer, TrainExample  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def adapted(scorer, cache: FeatureCache, items) -> np.ndarray:
    return cache.get_or_compute(scorer, items, "cloze").phi.astype(np.float64)


DEV_SIZE = 200  # unpaid pool questions per seed in --split dev
SETS = {  # the data sections; openbookqa is the demo's own
    "openbookqa": {"pool": "openbookqa:train", "pool_limit": 700, "eval": "openbookqa:test", "eval_limit": 300},
    "arc_easy": {"pool": "arc_easy:train", "pool_limit": 600, "eval": "arc_easy:test", "eval_limit": 400},
}


def set_config(name: str):
    """The demo config with the set's data section (its game, scoring and lora settings unchanged)."""
    import yaml

    path = REPO / "configs" / "demo_openbookqa.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["name"], doc["data"] = f"lora_bench_{name}", {**SETS[name], "seed": 0}
    return config_from_dict(doc, f"{path} ({name})", REPO / "configs")


def one_seed(seed: int, cfg, settings: LoraSettings, trainer: LoraTrainer, scorer, cache, base, work: Path,
             split: str) -> dict:
    pool_phi, pool_mask, pool_gold, eval_phi, eval_mask, eval_gold, pool, evals = base
    perm = np.random.default_rng(100 + seed).permutation(len(pool))
    game = cfg.game_config("llf")
    res = play(pool_phi[perm], lambda t: int(pool_gold[perm][t]), game, mask=pool_mask[perm])
    rounds = np.nonzero(res.queried)[0]
    idx, gold, paid_at = perm[rounds], pool_gold[perm][rounds], res.paid_at[rounds]
    if split == "dev":  # the seed's own unpaid pool questions: never the test split
        held = perm[np.nonzero(~res.queried)[0][:DEV_SIZE]]
        evals, eval_phi, eval_mask, eval_gold = [pool[int(i)] for i in held], pool_phi[held], pool_mask[held], pool_gold[held]
    theta0 = np.zeros(pool_phi.shape[2])
    theta0[game.prior_index] = 1.0

    def acc(theta, phi):
        return float(np.mean(predict(theta, phi, eval_mask) == eval_gold))

    alts = hardest_alternatives(res.theta, pool_phi[idx], pool_mask[idx], gold, settings.negatives)
    examples = [TrainExample(pool[int(i)], int(g), a) for i, g, a in zip(idx, gold, alts)]
    phase = trainer.train(examples)
    print(f"seed {seed}: a {len(examples)}-label phase, {phase.steps} steps, {phase.wall_s:.0f} s "
          f"(load average {os.getloadavg()[0]:.1f})", flush=True)
    folder = work / f"seed{seed}" / "adapter"
    record = trainer.save(folder, version=1, seed=seed)
    scorer.set_adapter(folder)  # hot: the loaded scorer swaps the adapter in place
    paid_phi = adapted(scorer, cache, [pool[int(i)] for i in idx])
    eval_ad = adapted(scorer, cache, evals)
    leader = replay_leader(paid_phi, pool_mask[idx], gold, paid_at, game)
    scorer.set_adapter(None)
    return {"seed": seed, "split": split, "questions": len(evals), "labels": int(len(idx)),
            "zero_shot": acc(theta0, eval_phi), "head_alone": acc(res.theta, eval_phi),
            "lora_alone": acc(theta0, eval_ad), "lora_refit_head": acc(leader.theta, eval_ad),
            "phase_steps": phase.steps, "phase_wall_s": round(phase.wall_s, 1), "phase_loss": phase.loss,
            "adapter_fingerprint": record["adapter_fingerprint"], "load_avg_1m": os.getloadavg()[0]}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--set", default="openbookqa", choices=tuple(SETS))
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--split", choices=("test", "dev"), default="test")
    ap.add_argument("--lr", type=float, default=None, help="override lora.lr of configs/demo_openbookqa_lora.yaml")
    ap.add_argument("--pairwise-weight", type=float, default=None, help="override lora.pairwise_weight")
    ap.add_argument("--work", default="/tmp/stackray-lora-bench")
    ap.add_argument("--out", default=None, help="default: bench/results/lora_accuracy.json (openbookqa), "
                                                "lora_accuracy_<set>.json otherwise")
    args = ap.parse_args(argv)
    cfg = set_config(args.set)
    lora_cfg = load_config(REPO / "configs" / "demo_openbookqa_lora.yaml").lora
    overrides = {"threads": args.threads}
    if args.lr is not None:
        overrides["lr"] = args.lr
    if args.pairwise_weight is not None:
        overrides["pairwise_weight"] = args.pairwise_weight
    settings = lora_cfg.model_copy(update=overrides)
    _, evals = cfg.items()
    spec = SETS[args.set]
    pool = load_items(spec["pool"], limit=spec["pool_limit"], seed=0)  # the items load_cached assembles, in its order
    pool_phi, pool_mask, pool_gold, _ = load_cached(spec["pool"], spec["pool_limit"])
    work = Path(args.work)
    trainer = LoraTrainer(settings)
    scorer = load_scorer(d_h=64, num_threads=args.threads)
    cache = FeatureCache(work / "cache")
    eval_phi = adapted(scorer, cache, evals)  # the base model's (no adapter yet)
    eval_mask, eval_gold = option_mask(evals), gold_array(evals)
    base = (pool_phi, pool_mask, pool_gold, eval_phi, eval_mask, eval_gold, pool, evals)
    name = "lora_accuracy.json" if args.set == "openbookqa" else f"lora_accuracy_{args.set}.json"
    out = Path(args.out) if args.out else REPO / "bench" / "results" / name
    rows = json.loads(out.read_text())["rows"] if out.is_file() else []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        started = time.time()
        row = one_seed(seed, cfg, settings, trainer, scorer, cache, base, work, args.split)
        row["seed_wall_s"] = round(time.time() - started, 1)
        rows = [r for r in rows if r["seed"] != seed] + [row]
        print(json.dumps(row), flush=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        doc = {"set": args.set, "settings": settings.model_dump(mode="json"), "rows": rows}
        out.write_text(json.dumps(doc, indent=1) + "\n")


if __name__ == "__main__":
    main()
