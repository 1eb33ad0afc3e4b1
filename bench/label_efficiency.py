"""The label-efficiency report: what paid labels buy on six real sets, per strategy and budget.

    make bench                                   # or alone:
    PYTHONPATH=$PWD .venv/bin/python bench/label_efficiency.py [--sets arc_easy,openbookqa] [--seeds 20]
        [--model HF_ID_OR_PATH] [--backend transformers|vllm] [--out bench/results/label_efficiency]

Each set's pool is its own train split where it has one (otherwise a seeded share of its only split,
with the rest held out); its evaluation split is never used for choosing anything. Features come from
the project's feature cache, computed through the same scoring fleet a run uses (`FeatureSource` on an
embedded Ray) on the first call and read back on every later one, so a rerun costs seconds.

Per seed s the pool is played in the seeded order s (the order the game sees is the only randomness
besides `random`'s draws), by every strategy at every beta, with the game settings of the demo config
(chosen on a development share of the OpenBookQA train split, docs/game.md). For each learned head the
run's own guard (stackray.run.served_head: held-out replays of the game's head on the paid labels and a
sign test) decides which head would be served. The outside reference is scikit-learn's logistic
regression trained on the same number of randomly chosen labels.

Writes runs.json (one record per set, strategy, beta and seed) beside the tables, docs/results.md
(via bench/_efficiency_report.py) and one accuracy-vs-labels PNG per set under docs/img/.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from stackray.game import GameConfig, play, predict
from stackray.run.config import config_from_dict
from stackray.run.served_head import guard

ROOT = Path(__file__).resolve().parent.parent
# pool: a train split where the set has one; `holdout` carves the evaluation items out of a single split.
# The two sets where labels are known to pay get the larger pools; the rest are small, so that featurising
# all six with the 135M model (about 110 chunks of 32 questions) takes well under an hour on 2 idle cores.
SETS = {
    "openbookqa": {"pool": "openbookqa:train", "pool_limit": 700, "eval": "openbookqa:test", "eval_limit": 500},
    "arc_easy": {"pool": "arc_easy:train", "pool_limit": 600, "eval": "arc_easy:test", "eval_limit": 400},
    "piqa": {"pool": "piqa:validation", "pool_limit": 500, "holdout": 200},
    "arc_challenge": {"pool": "arc_challenge:train", "pool_limit": 300, "eval": "arc_challenge:test", "eval_limit": 200},
    "mmlu": {"pool": "mmlu:validation", "pool_limit": 300, "eval": "mmlu:test", "eval_limit": 200},
    "medqa": {"pool": "medqa:test", "pool_limit": 500, "holdout": 200},
}
LEARNERS = ("llf", "random", "margin", "entropy", "passive")
BETAS = (0.02, 0.05, 0.1, 0.2, 0.3)
LEVEL = 0.1  # the guard's significance level: ServeSection's default


def game_settings() -> dict:
    """The demo config's game section (everything but beta): the settings a user starts from."""
    demo = config_from_dict(_yaml(ROOT / "configs" / "demo_openbookqa.yaml"), "configs/demo_openbookqa.yaml", ROOT / "configs")
    game = demo.game_config("llf")
    return {k: getattr(game, k) for k in ("c", "lam", "lam_tail", "tail_from", "alpha", "window", "max_wait", "rank", "negatives", "audit")}


def _yaml(path: Path) -> dict:
    import yaml

    return yaml.safe_load(path.read_text())


def set_features(name: str, model: str | None, backend: str) -> dict:
    """{pool|eval: (phi float64 [N, K, d], mask [N, K], gold [N])} of one set, through the feature cache."""
    from stackray.run.driver import init_ray
    from stackray.run.features import FeatureSource

    scoring = {"backend": backend, "format": "cloze", "d_h": 64, "chunk": 32}
    if model:
        scoring["model"] = model
    cfg = config_from_dict({"name": f"bench_{name}", "data": {**SETS[name], "seed": 0}, "scoring": scoring},
                           f"bench:{name}", ROOT)
    pool, evals = cfg.items()
    init_ray(cfg.ray)
    source = FeatureSource(cfg.scoring, cfg.ray, {"pool": pool, "eval": evals})
    try:
        out = {}
        for split, items in (("pool", pool), ("eval", evals)):
            phi, mask = source.all(split)
            out[split] = (phi.copy(), mask.copy(), np.array([it.answer for it in items], dtype=np.int64))
        out["cache"] = {"hits": source.hits, "misses": source.misses}
        return out
    finally:
        source.close()


def zero_shot_correct(phi, mask, gold) -> np.ndarray:
    return np.where(mask, phi[:, :, 0], -np.inf).argmax(axis=1) == gold


def play_one(strategy: str, beta: float, seed: int, feats: dict, settings: dict) -> dict:
    """One game on the seed's pool order; held-out accuracy of the final and of the served head."""
    phi, mask, gold = feats["pool"]
    e_phi, e_mask, e_gold = feats["eval"]
    order = np.random.default_rng(seed).permutation(len(gold))
    cfg = GameConfig(strategy=strategy, beta=beta, seed=seed, **settings)
    res = play(phi[order], lambda t: int(gold[order][t]), cfg, mask=mask[order])
    correct = predict(res.theta, e_phi, e_mask) == e_gold
    zero = zero_shot_correct(e_phi, e_mask, e_gold)
    paid, unpaid = np.nonzero(res.queried)[0], np.nonzero(~res.queried)[0]
    # The stream's unpaid rounds: questions of the pool the head never saw a label of. A development
    # split for choosing the game's or the guard's settings (bench/guard_audit.py), never the eval split.
    s_phi, s_mask, s_gold = phi[order][unpaid], mask[order][unpaid], gold[order][unpaid]
    record = {"strategy": strategy, "beta": beta, "seed": seed, "labels": int(res.labels_used),
              "acc": float(correct.mean()), "correct": correct.astype(int).tolist(),
              "stream_acc": float(np.mean(predict(res.theta, s_phi, s_mask) == s_gold)) if unpaid.size else None,
              "stream_zero": float(zero_shot_correct(s_phi, s_mask, s_gold).mean()) if unpaid.size else None}
    choice = guard(phi[order], mask[order], paid, gold[order][paid], res.paid_at[paid], cfg, LEVEL,  # what a run would serve
                   audited=res.audited[paid])
    served_acc = record["acc"] if choice.head == "learned" else float(zero.mean())
    # The guard's counts, so that other levels and veto rules can be judged from runs.json alone
    # (bench/guard_level.py), on the stream's unpaid rounds first.
    evidence = {k: getattr(choice, k) for k in ("paid_rounds", "wins", "losses", "p_value", "audit_rounds", "audit_wins", "audit_losses")}
    return {**record, "served": choice.head, "served_acc": served_acc, "guard": evidence}


def logistic_reference(n_labels: int, seed: int, feats: dict) -> dict:
    """scikit-learn logistic regression on `n_labels` random pool items: each (question, option) is one
    example (centred within its question, so only differences between options count), the answer is
    the option with the highest decision value. Standardised on the whole (unlabelled) pool."""
    from sklearn.linear_model import LogisticRegression

    phi, mask, gold = feats["pool"]
    e_phi, e_mask, e_gold = feats["eval"]
    chosen = np.random.default_rng(10_000 + seed).choice(len(gold), size=n_labels, replace=False)

    def centred(p, m):
        mean = (p * m[..., None]).sum(1, keepdims=True) / m.sum(1, keepdims=True)[..., None]
        return p - mean

    c_pool = centred(phi, mask)
    scale = c_pool[mask].std(axis=0)
    scale[scale == 0] = 1.0
    x = (c_pool[chosen] / scale)[mask[chosen]]
    y = (np.arange(mask.shape[1])[None, :] == gold[chosen][:, None])[mask[chosen]]
    model = LogisticRegression(max_iter=2000).fit(x, y)
    c_eval = centred(e_phi, e_mask) / scale
    scores = model.decision_function(c_eval.reshape(-1, c_eval.shape[-1])).reshape(e_mask.shape)
    correct = np.where(e_mask, scores, -np.inf).argmax(axis=1) == e_gold
    return {"strategy": "logreg", "labels": int(n_labels), "seed": seed, "acc": float(correct.mean()),
            "correct": correct.astype(int).tolist(), "served": "learned", "served_acc": float(correct.mean())}


def run_set(name: str, feats: dict, seeds: int, settings: dict, progress) -> list[dict]:
    records = []
    for seed in range(seeds):
        for strategy in ("zero_shot", "full"):
            records.append(play_one(strategy, 1.0, seed, feats, settings))
            progress(name, strategy, 1.0, seed)
        for beta in BETAS:
            for strategy in LEARNERS:
                records.append(play_one(strategy, beta, seed, feats, settings))
                progress(name, strategy, beta, seed)
            n = next(r["labels"] for r in records if r["strategy"] == "random" and r["beta"] == beta and r["seed"] == seed)
            records.append({**logistic_reference(max(n, 2), seed, feats), "beta": beta})
    return [{"set": name, **r} for r in records]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sets", default=",".join(SETS), help=f"comma-separated, from {', '.join(SETS)}")
    p.add_argument("--seeds", type=int, default=20)
    p.add_argument("--model", default=None, help="Hugging Face id or local path (default: the bundled SmolLM2-135M)")
    p.add_argument("--backend", default="transformers", choices=("transformers", "vllm"))
    p.add_argument("--features-only", action="store_true", help="fill the feature cache and stop")
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "label_efficiency"))
    args = p.parse_args(argv)
    names = [s.strip() for s in args.sets.split(",") if s.strip()]
    unknown = [s for s in names if s not in SETS]
    if unknown:
        raise SystemExit(f"--sets: unknown set(s) {', '.join(unknown)}; choose from {', '.join(SETS)}")
    settings, out = game_settings(), Path(args.out)
    total = len(names) * args.seeds * (2 + len(BETAS) * len(LEARNERS))
    done, start = [0], time.perf_counter()

    def progress(name, strategy, beta, seed):
        done[0] += 1
        print(f"\r[{done[0]:4d}/{total}] {name:13s} {strategy:9s} beta {beta:<4g} seed {seed}  "
              f"{time.perf_counter() - start:6.0f} s", end="", flush=True)

    records, meta = [], {}
    for name in names:
        t0 = time.perf_counter()
        feats = set_features(name, args.model, args.backend)
        meta[name] = {"spec": SETS[name], "pool": len(feats["pool"][2]), "eval": len(feats["eval"][2]),
                      "d": int(feats["pool"][0].shape[2]), "features_seconds": round(time.perf_counter() - t0, 1),
                      **feats.pop("cache")}
        print(f"{name}: features pool {feats['pool'][0].shape}, eval {feats['eval'][0].shape} "
              f"in {meta[name]['features_seconds']} s", flush=True)
        if not args.features_only:
            records += run_set(name, feats, args.seeds, settings, progress)
    if args.features_only:
        return 0
    print()
    from _efficiency_report import machine_note, write_report

    doc = {"model": args.model or "SmolLM2-135M-Instruct (bundled GGUF)", "backend": args.backend,
           "machine": machine_note(), "seeds": args.seeds, "settings": settings, "level": LEVEL, "sets": meta,
           "records": records}
    out.mkdir(parents=True, exist_ok=True)
    (out / "runs.json").write_text(json.dumps(doc))
    write_report(doc, out)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main())
