"""Ablations of the game on cached real features: which knobs make paid labels pay, and does the guard see it.

Run (after `stackray featurize` filled the cache for the pools named below):

    PYTHONPATH=$PWD STACKRAY_CACHE=/tmp/stackray-cache nice -n 10 .venv/bin/python bench/label_efficiency_ablations.py
        [--pool openbookqa:train:700] [--seeds 5] [--only NAME,...] [--out bench/results]

Development pools only: each seed splits the pool's items into a stream (played by the game) and a
dev split (scored); nothing here reads a test split, so a choice made from these tables is not a
choice made on test. Every arm is played on the same seeds' splits as `random` with the same
features, so the comparison is paired: the table gives the mean of (arm - random) per seed, its 95%
t-interval and the number of seeds the arm wins.

The guard columns: for each learned head, whether `stackray.run.served_head` would serve it (the
pre-label sign test, and the cross-fitted ridge test) and whether it was in fact better than the
zero-shot prior on the dev split.

Writes <out>/label_efficiency_<pool>.json and .md (the Markdown table that docs/game.md quotes).
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from stackray.data import load_items
from stackray.game import GameConfig, play, predict
from stackray.run.served_head import choose_head, cross_fitted_predictions

SCALARS = 3  # mean_logprob, sum_logprob, calibration; then hidden_000.., then bias (constant: no signal)
BASE = dict(beta=0.1, c=1.0, lam=30.0, window=32, max_wait=2, rank="width")  # explicit: tables do not move with defaults


def load_cached(spec: str, limit: int, seed: int = 0, root: str = "/tmp/stackray-cache", d: int = 68):
    """(phi [N, K, d], mask [N, K], gold [N], names) assembled from the content-keyed feature cache.

    Only cloze features of the bundled GGUF model are read (the cache may also hold other models'
    features for the same item ids).
    """
    rows, names = {}, None
    for f in sorted(glob.glob(root + "/*.json")):
        meta = json.loads(Path(f).read_text())
        material = meta["material"]
        if meta["shape"][-1] != d or "cloze" not in str(material) or "gguf:" not in str(material.get("scorer", {}).get("model")):
            continue
        phi = np.load(f[:-5] + ".npy", allow_pickle=False)
        names = meta["names"]
        for i, id_ in enumerate(meta["ids"]):
            rows[id_] = phi[i]
    items = load_items(spec, limit=limit, seed=seed)
    missing = [it.id for it in items if it.id not in rows]
    if missing:
        raise SystemExit(f"{spec}: {len(missing)} items are not in the feature cache {root} (first: {missing[0]}); "
                         f"run `stackray featurize --data {spec} --limit {limit} --d-h {d - 4}` first")
    phi = np.stack([rows[it.id] for it in items]).astype(np.float64)
    K = phi.shape[1]
    mask = np.array([[k < len(it.options) for k in range(K)] for it in items])
    gold = np.array([it.answer for it in items])
    return phi, mask, gold, names


# ---- feature transforms: what `play` receives ---------------------------------------------------------
def _diff_std(phi, mask):
    """Std of each column over within-context differences phi(y) - phi(y_0): the scale the ridge sees."""
    D = (phi - phi[:, :1])[mask].reshape(-1, phi.shape[-1])
    sd = D.std(axis=0)
    sd[sd == 0] = 1.0
    return sd / sd[0]  # column 0 keeps its scale, so theta0 = e_0 is still the zero-shot prior


def transform(name: str, phi, mask):
    """Columns and scaling, from unlabelled stream features only. `std`: every column scaled to the prior's
    difference-std; `stdhB`: then the hidden block shrunk by B (a ridge B^2 times stronger on it)."""
    cols = {"raw": None, "std": None, "d3": slice(0, SCALARS)}
    hidden = phi.shape[-1] - SCALARS - 1
    if name.startswith("h") and name[1:].isdigit():  # the first k hidden columns: a narrower random projection
        keep = list(range(SCALARS)) + list(range(SCALARS, SCALARS + int(name[1:])))
        return phi[:, :, keep] / _diff_std(phi[:, :, keep], mask)
    if name in cols:
        out = phi if cols[name] is None else phi[:, :, cols[name]]
        return out / _diff_std(out, mask) if name == "std" else out
    if name.startswith("stdh"):
        out = phi / _diff_std(phi, mask)
        out[:, :, SCALARS:SCALARS + hidden] /= float(name[4:])
        return out
    raise ValueError(f"transform: unknown {name!r}")


# ---- pair rules: what a paid label teaches -----------------------------------------------------------
_play = sys.modules["stackray.game.play"]  # the module (the package re-exports its `play` function)

_HARDEST = _play.supervised_pairs


def _all_rivals(theta, phi, mask, gold, k):
    """Every valid rival of the gold answer, margin-violating or not (no filter by the current theta)."""
    r, j = np.nonzero(mask & (np.arange(mask.shape[1])[None, :] != gold[:, None]))
    return phi[r, gold[r]] - phi[r, j]


PAIR_RULES = {"hardest": _HARDEST, "all": _all_rivals}


@dataclass
class Arm:
    name: str
    cfg: dict
    feats: str = "raw"
    pairs: str = "hardest"
    baseline: str = "random"  # the arm it is paired with (same features, same pair rule)
    tags: list = field(default_factory=list)


def arms() -> list[Arm]:
    a = [Arm("zero_shot", {"strategy": "zero_shot"}), Arm("full", {"strategy": "full"}),
         Arm("random", {"strategy": "random"}), Arm("llf", {"strategy": "llf"})]
    a += [Arm(f"llf c={c}", {"strategy": "llf", "c": c}) for c in (0.1, 0.25, 0.5)]
    a += [Arm(f"llf rank={r}", {"strategy": "llf", "rank": r}) for r in ("gap", "ratio")]
    a += [Arm(s, {"strategy": s}) for s in ("margin", "entropy", "passive")]
    a += [Arm(f"llf lam={lam:g}", {"strategy": "llf", "lam": lam}, baseline=f"random lam={lam:g}") for lam in (3.0, 300.0)]
    a += [Arm(f"random lam={lam:g}", {"strategy": "random", "lam": lam}) for lam in (3.0, 300.0)]
    a += [Arm(f"llf W={w}", {"strategy": "llf", "window": w}, baseline=f"random W={w}") for w in (8, 128)]
    a += [Arm(f"random W={w}", {"strategy": "random", "window": w}) for w in (8, 128)]
    a += [Arm("llf tau=0.05", {"strategy": "llf", "tau": 0.05}), Arm("llf max_wait=0", {"strategy": "llf", "max_wait": 0})]
    a += [Arm("llf k=1", {"strategy": "llf", "negatives": 1}, baseline="random k=1"),
          Arm("random k=1", {"strategy": "random", "negatives": 1})]
    a += [Arm(f"{s} pairs=all", {"strategy": s}, pairs="all", baseline="random pairs=all") for s in ("llf", "random")]
    for feats in ("std", "stdh2", "stdh4", "d3", "h16", "h32"):
        lam = 1.0 if feats == "d3" else 30.0
        for s in ("full", "random", "llf"):
            a.append(Arm(f"{s} {feats}", {"strategy": s, "lam": lam}, feats=feats, baseline=f"random {feats}"))
        for r in ("gap", "ratio"):
            a.append(Arm(f"llf {feats} rank={r}", {"strategy": "llf", "lam": lam, "rank": r}, feats=feats, baseline=f"random {feats}"))
    for beta in (0.02, 0.05):
        for s in ("random", "llf"):
            a.append(Arm(f"{s} beta={beta}", {"strategy": s, "beta": beta}, baseline=f"random beta={beta}"))
            a.append(Arm(f"{s} stdh4 beta={beta}", {"strategy": s, "beta": beta}, feats="stdh4", baseline=f"random stdh4 beta={beta}"))
        a.append(Arm(f"llf beta={beta} rank=gap", {"strategy": "llf", "beta": beta, "rank": "gap"}, baseline=f"random beta={beta}"))
        a.append(Arm(f"llf stdh4 beta={beta} rank=gap", {"strategy": "llf", "beta": beta, "rank": "gap"}, feats="stdh4",
                     baseline=f"random stdh4 beta={beta}"))
    return a


def play_arm(arm: Arm, phi, mask, gold, seeds: int, dev: int, level: float) -> dict:
    _play.supervised_pairs = PAIR_RULES[arm.pairs]
    try:
        out = {"acc": [], "zero": [], "labels": [], "sign": [], "cross": [], "better": []}
        for s in range(seeds):
            perm = np.random.default_rng(100 + s).permutation(len(phi))
            st, dv = perm[:-dev], perm[-dev:]
            X = transform(arm.feats, phi, mask)
            cfg = GameConfig(**{**BASE, **arm.cfg, "seed": s})
            res = play(X[st], lambda t: int(gold[st][t]), cfg, mask=mask[st])
            acc = float((predict(res.theta, X[dv], mask[dv]) == gold[dv]).mean())
            zero = float((np.where(mask[dv], X[dv][:, :, 0], -np.inf).argmax(1) == gold[dv]).mean())
            out["acc"].append(acc)
            out["zero"].append(zero)
            out["labels"].append(res.labels_used)
            paid = np.nonzero(res.queried)[0]
            prior = np.where(mask[st][paid], X[st][paid][:, :, 0], -np.inf).argmax(1)
            answers = gold[st][paid]
            out["sign"].append(choose_head(res.predictions[paid], prior, answers, level).head == "learned")
            cross = cross_fitted_predictions(X[st][paid], mask[st][paid], answers, lam=cfg.lam, prior_index=cfg.prior_index)
            out["cross"].append(choose_head(cross, prior, answers, level).head == "learned")
            out["better"].append(acc > zero)
        return out
    finally:
        _play.supervised_pairs = _HARDEST


def paired(a: list[float], b: list[float]) -> tuple[float, float, int]:
    """Mean of a - b, the half-width of its 95% t-interval, and how many seeds a wins."""
    d = np.asarray(a) - np.asarray(b)
    t = {2: 12.71, 3: 4.30, 4: 3.18, 5: 2.78, 6: 2.57, 7: 2.45, 8: 2.36, 9: 2.31, 10: 2.26}.get(len(d), 1.96)
    half = t * d.std(ddof=1) / math.sqrt(len(d)) if len(d) > 1 else float("nan")
    return float(d.mean()), float(half), int(np.sum(d > 0))


def table(results: dict, order: list[Arm]) -> str:
    lines = ["| arm | dev acc | vs baseline (mean, 95% CI, wins) | labels | served: sign / cross-fit | learned better |",
             "|---|---|---|---|---|---|"]
    for arm in order:
        r = results[arm.name]
        acc = np.mean(r["acc"])
        cmp = ""
        against = [b for b in (arm.baseline, arm.name.replace(f" rank={arm.cfg.get('rank')}", ""))
                   if b in results and b != arm.name and arm.cfg.get("strategy") != "zero_shot"]
        for b in dict.fromkeys(against):
            m, h, w = paired(r["acc"], results[b]["acc"])
            cmp += f"{'; ' if cmp else ''}{m:+.3f} ± {h:.3f} ({w}/{len(r['acc'])}) vs {b}"
        lines.append(f"| {arm.name} | {acc:.3f} | {cmp} | {np.mean(r['labels']):.0f} | "
                     f"{sum(r['sign'])} / {sum(r['cross'])} | {sum(r['better'])} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--pool", default="openbookqa:train:700", help="data spec:limit of a TRAIN split")
    p.add_argument("--dev", type=int, default=200, help="items per seed held out of the stream and scored")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--level", type=float, default=0.1, help="the guard's significance level")
    p.add_argument("--only", default="", help="comma-separated arm names (default: all)")
    p.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"))
    args = p.parse_args(argv)
    spec, limit = args.pool.rsplit(":", 1)
    if "test" in spec:
        raise SystemExit("--pool: ablations choose knobs, so they run on train splits only")
    phi, mask, gold, _ = load_cached(spec, int(limit))
    order = arms()
    if args.only:
        wanted = set(args.only.split(","))
        order = [a for a in order if a.name in wanted or a.name == a.baseline or any(b.baseline == a.name for b in order if b.name in wanted)]
    results = {}
    for arm in order:
        results[arm.name] = play_arm(arm, phi, mask, gold, args.seeds, args.dev, args.level)
        r = results[arm.name]
        print(f"{arm.name:32s} acc {np.mean(r['acc']):.3f}  labels {np.mean(r['labels']):.0f}  "
              f"sign {sum(r['sign'])} cross {sum(r['cross'])} better {sum(r['better'])}", flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"label_efficiency_{spec.replace(':', '_')}"
    head = (f"{spec} (first {limit} items, seed-0 sample): per seed s the stream is {int(limit) - args.dev} items and "
            f"the dev split {args.dev} (permutation seed 100 + s); {args.seeds} seeds; defaults {BASE}; guard level {args.level}.")
    (out / f"{stem}.json").write_text(json.dumps({"pool": args.pool, "seeds": args.seeds, "dev": args.dev, "base": BASE,
                                                   "arms": {a.name: {**a.__dict__, **results[a.name]} for a in order}}, indent=1))
    (out / f"{stem}.md").write_text(head + "\n\n" + table(results, order) + "\n")
    print(head + "\n\n" + table(results, order))


if __name__ == "__main__":
    sys.exit(main())
