"""Ablations of the game on cached real features: which knobs make paid labels pay, and does the guard see it.

Run (after `stackray featurize` filled the cache for the pools named below):

    PYTHONPATH=$PWD STACKRAY_CACHE=/tmp/stackray-cache nice -n 10 .venv/bin/python bench/label_efficiency_ablations.py
        [--pool openbookqa:train:700] [--seeds 5] [--format cloze|letter] [--only NAME,...] [--out bench/results]

Development pools only: each seed splits the pool's items into a stream (played by the game) and a
dev split (scored); nothing here reads a test split, so a choice made from these tables is not a
choice made on test. Every arm is played on the same seeds' splits as `random` with the same
features, so the comparison is paired: the table gives the mean of (arm - random) per seed, its 95%
t-interval and the number of seeds the arm wins.

The guard columns: for each learned head, whether `stackray.run.served_head` would serve it (the
pre-label sign test, and the held-out replays of the game's head; for pair-rule arms the replay uses the default pairs) and whether it was in fact better than the
zero-shot prior on the dev split.

Writes <out>/label_efficiency_<pool>.json and .md (the Markdown table that docs/game.md quotes).
"""

from __future__ import annotations

import argparse
import copy
import glob
import json
import math
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from stackray.data import load_items
from stackray.scoring.cache import default_cache_root
from stackray.game import GameConfig, predict
from stackray.game.follower import Confidence, assess, assess_window, masked_scores
from stackray.game.leader import replay_leader
from stackray.run.served_head import choose_head, held_out_predictions

SCALARS = 3  # mean_logprob, sum_logprob, calibration; then hidden_000.., then bias (constant: no signal)
BASE = dict(beta=0.1, c=1.0, lam=30.0, window=32, max_wait=2, rank="width", lam_tail=0.0)  # explicit: tables do not move with defaults


def load_cached(spec: str, limit: int, seed: int = 0, root: str | None = None, d: int = 68, fmt: str = "cloze"):
    """(phi [N, K, d], mask [N, K], gold [N], names) assembled from the content-keyed feature cache.

    Only `fmt` (cloze or letter) zero-shot features of the bundled GGUF model without an adapter are read (the
    cache may also hold other models', other formats', k-shot and LoRA-adapted features for the same item ids).
    `root`: the project's feature cache (``$STACKRAY_CACHE`` or ~/.cache/stackray/features, where runs and
    bench/label_efficiency.py put them).
    """
    root = str(root or default_cache_root())
    rows, names = {}, None
    for f in sorted(glob.glob(root + "/*.json")):
        meta = json.loads(Path(f).read_text())
        material = meta["material"]
        scorer = material.get("scorer", {})
        model = str(scorer.get("model"))
        if (meta["shape"][-1] != d or scorer.get("format") != fmt or scorer.get("num_shots", 0) or "gguf:" not in model
                or "+adapter:" in model):
            continue
        phi = np.load(f[:-5] + ".npy", allow_pickle=False)
        names = meta["names"]
        for i, id_ in enumerate(meta["ids"]):
            rows[id_] = phi[i]
    items = load_items(spec, limit=limit, seed=seed)
    missing = [it.id for it in items if it.id not in rows]
    if missing:
        raise SystemExit(f"{spec}: {len(missing)} items are not in the feature cache {root} (first: {missing[0]}); "
                         f"run `stackray featurize --data {spec} --limit {limit} --format {fmt} --d-h {d - 4}` first")
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
    if name.startswith(("stdh", "rawh")):  # a block-wise ridge: (factor)^2 times stronger on the hidden block
        out = phi / _diff_std(phi, mask) if name.startswith("std") else phi.copy()
        out[:, :, SCALARS:SCALARS + hidden] /= float(name[4:])
        return out
    raise ValueError(f"transform: unknown {name!r}")


# ---- pair rules: what a paid label teaches -----------------------------------------------------------
_play = sys.modules["stackray.game.play"]  # the module (the package re-exports its `play` function)
_lead = sys.modules["stackray.game.leader"]  # Leader.learn makes a label's pairs with this module's supervised_pairs

_HARDEST = _lead.supervised_pairs
_LEARN = _lead.Leader.learn


def _all_rivals(theta, phi, mask, gold, k):
    """Every valid rival of the gold answer, margin-violating or not (no filter by the current theta)."""
    r, j = np.nonzero(mask & (np.arange(mask.shape[1])[None, :] != gold[:, None]))
    return phi[r, gold[r]] - phi[r, j]


def _at_least_one(theta, phi, mask, gold, k):
    """The hardest margin-violating rivals, and the top rival of a round that violates none: every paid
    label teaches the regression something (the issue's "other reading of the game")."""
    out = [np.zeros((0, phi.shape[2]))]
    for i in range(len(gold)):
        Z = _HARDEST(theta, phi[i:i + 1], mask[i:i + 1], gold[i:i + 1], k)
        if not len(Z):
            scores = masked_scores(theta, phi[i:i + 1], mask[i:i + 1])[0]
            scores[gold[i]] = -np.inf
            if np.isfinite(scores.max()):
                Z = (phi[i, gold[i]] - phi[i, int(scores.argmax())])[None, :]
        out.append(Z)
    return np.concatenate(out)


PAIR_RULES = {"hardest": _HARDEST, "all": _all_rivals, "min1": _at_least_one}


def _per_label_learn(self, phi, mask, gold, k):
    """Leader.learn with pair weights 1 / (pairs of its round): each paid label weighs the same in the ridge,
    however many of its rivals violate the margin (the default counts a round with 3 such rivals 3 times)."""
    version, Zs, ws = self.version, [], []
    for i in range(len(gold)):
        Z = _lead.supervised_pairs(self.theta, phi[i:i + 1], mask[i:i + 1], gold[i:i + 1], k)
        Zs.append(Z)
        ws.append(np.full(len(Z), 1.0 / max(len(Z), 1)))
    Z = np.concatenate(Zs) if Zs else np.zeros((0, self.dim))
    if len(Z):
        self.update(Z, np.concatenate(ws))
    self.version = version + 1


@dataclass
class Arm:
    name: str
    cfg: dict
    feats: str = "raw"
    pairs: str = "hardest"
    baseline: str = "random"  # the arm it is paired with (same features, same pair rule)
    noise: bool = False  # the oracle answers at random (a false-switch test for the guard)
    pending: str = "played"  # pending rounds ranked by the pair they were played with, or "fresh" (a new best response)
    lam_tails: tuple = ()  # candidates for the served head's hidden-block ridge, chosen per run from the paid labels


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
    a += [Arm(f"{s} pairs=sequential", {"strategy": s}, pairs="sequential", baseline="random pairs=sequential")
          for s in ("random", "llf")]
    a += [Arm(f"{s} noise", {"strategy": s}, noise=True, baseline="random noise") for s in ("random", "llf", "full")]
    a += [Arm(f"{s} pairs=all", {"strategy": s}, pairs="all", baseline="random pairs=all") for s in ("llf", "random")]
    for feats in ("std", "stdh2", "stdh4", "rawh2", "d3", "h16", "h32"):
        lam = 1.0 if feats == "d3" else 30.0
        for s in ("full", "random", "llf"):
            a.append(Arm(f"{s} {feats}", {"strategy": s, "lam": lam}, feats=feats, baseline=f"random {feats}"))
        for r in ("gap", "ratio"):
            a.append(Arm(f"llf {feats} rank={r}", {"strategy": "llf", "lam": lam, "rank": r}, feats=feats, baseline=f"random {feats}"))
    for tail in (7.5, 120.0, 480.0):  # the ridge on the hidden block (the scalars keep lam = 30); rawh2 = 120 by scaling
        name = f"lam_tail={tail:g}"
        for s in ("full", "random", "llf"):
            a.append(Arm(f"{s} {name}", {"strategy": s, "lam_tail": tail}, baseline=f"random {name}"))
        for r in ("gap", "ratio"):
            a.append(Arm(f"llf {name} rank={r}", {"strategy": "llf", "lam_tail": tail, "rank": r}, baseline=f"random {name}"))
    for beta in (0.02, 0.05):
        for s in ("random", "llf"):
            a.append(Arm(f"{s} beta={beta}", {"strategy": s, "beta": beta}, baseline=f"random beta={beta}"))
            a.append(Arm(f"{s} stdh4 beta={beta}", {"strategy": s, "beta": beta}, feats="stdh4", baseline=f"random stdh4 beta={beta}"))
            a.append(Arm(f"{s} lam_tail=120 beta={beta}", {"strategy": s, "beta": beta, "lam_tail": 120.0},
                         baseline=f"random lam_tail=120 beta={beta}"))
        a.append(Arm(f"llf lam_tail=120 beta={beta} rank=gap", {"strategy": "llf", "beta": beta, "rank": "gap", "lam_tail": 120.0},
                     baseline=f"random lam_tail=120 beta={beta}"))
        a.append(Arm(f"llf beta={beta} rank=gap", {"strategy": "llf", "beta": beta, "rank": "gap"}, baseline=f"random beta={beta}"))
        a.append(Arm(f"llf stdh4 beta={beta} rank=gap", {"strategy": "llf", "beta": beta, "rank": "gap"}, feats="stdh4",
                     baseline=f"random stdh4 beta={beta}"))
    for beta in (0.05, 0.1):  # the demo's settings (block ridge, rank = gap): what helps on top of them
        demo, tag = {"beta": beta, "lam_tail": 120.0, "rank": "gap"}, f"demo beta={beta}"
        for pairs in ("hardest", "min1", "per_label"):
            suffix = "" if pairs == "hardest" else f" pairs={pairs}"
            for s in ("random", "llf"):
                a.append(Arm(f"{s} {tag}{suffix}", {"strategy": s, **demo}, pairs=pairs, baseline=f"random {tag}{suffix}"))
        for audit in (0.25, 0.5):
            a.append(Arm(f"llf {tag} audit={audit}", {"strategy": "llf", **demo, "audit": audit}, baseline=f"random {tag}"))
        a.append(Arm(f"llf {tag} c=0.25", {"strategy": "llf", **demo, "c": 0.25}, baseline=f"random {tag}"))
        a.append(Arm(f"llf {tag} pending=fresh", {"strategy": "llf", **demo}, pending="fresh", baseline=f"llf {tag}"))
        for s in ("random", "llf"):
            a.append(Arm(f"{s} {tag} select lam_tail", {"strategy": s, **demo}, lam_tails=LAM_TAILS, baseline=f"{s} {tag}"))
    return a


LAM_TAILS = (30.0, 120.0, 480.0, 1920.0)  # 30 = lam: one ridge for every column


def _select_lam_tail(cfg: GameConfig, phi, mask, answers, paid_at, candidates) -> tuple[GameConfig, np.ndarray]:
    """The served head's config among `lam_tail` candidates, chosen from the paid labels alone: the one whose
    held-out replays (the guard's evidence) predict the most paid answers; ties keep the game's own. Returns
    (that config, its held-out predictions)."""
    best = (cfg, held_out_predictions(phi, mask, answers, paid_at, cfg))
    best_right = int((best[1] == answers).sum())
    for tail in candidates:
        if tail == cfg.lam_tail:
            continue
        cand = replace(cfg, lam_tail=tail)
        held = held_out_predictions(phi, mask, answers, paid_at, cand)
        if (right := int((held == answers).sum())) > best_right:
            best, best_right = (cand, held), right
    return best


def _fresh_pending(game, phi, mask):
    """The game's window assessment, but with pending rounds re-assessed by a fresh best response (the other
    reading's third difference): under the new snapshot each pending round gets a new prediction and
    optimistic alternative, and the gate ranks it by that pair's margin and width, not by the pair it was
    played with. `phi`, `mask`: the stream's features (rounds index them)."""
    cfg = game.config

    def assess_fresh(snapshot, phi_w, mask_w, pending_z):
        window, _ = assess_window(snapshot, phi_w, mask_w, None, alpha=cfg.alpha, c=cfg.c, tau=cfg.tau)
        if pending_z is None:
            return window, None
        pending = game.gate.pending_rounds()  # the rounds Game.step built pending_z from, in the same order
        fresh = assess(snapshot, phi[pending], mask[pending], alpha=cfg.alpha, c=cfg.c, tau=cfg.tau)
        return window, Confidence(fresh.margin, fresh.width, fresh.uncertain)
    return assess_fresh


def _sequential(leader):
    """Pairs as if the leader were updated after every label of the window, not once per window.

    The ridge is order-free, so only the choice of pairs can differ: each label's hardest negatives are
    taken under the theta that already learned from the window's earlier labels (a shadow copy)."""
    def rule(theta, phi, mask, gold, k):
        shadow, out = copy.deepcopy(leader), [np.zeros((0, phi.shape[2]))]
        for i in range(len(gold)):
            out.append(_HARDEST(shadow.theta, phi[i:i + 1], mask[i:i + 1], gold[i:i + 1], k))
            shadow.update(out[-1])
        return np.concatenate(out)
    return rule


def _oracle(arm: Arm, gold, mask, seed: int):
    """The true answers, or with `noise` a uniformly random valid option: a task with nothing to learn."""
    if not arm.noise:
        return lambda t: int(gold[t])
    rng = np.random.default_rng(1000 + seed)
    fake = np.array([rng.choice(np.nonzero(m)[0]) for m in mask])
    return lambda t: int(fake[t])


def play_arm(arm: Arm, phi, mask, gold, seeds: int, dev: int, level: float, held=None) -> dict:
    """`held` = (phi, mask, gold) of a separate evaluation split scored instead of the dev split."""
    out = {k: [] for k in ("acc", "zero", "labels", "sign", "cross", "better", "served_acc")}
    n, X = len(phi), transform(arm.feats, phi, mask)
    if held is not None:  # appended after the pool; the stream is the same, only what is scored changes
        X, mask, gold = (np.concatenate([a, b]) for a, b in zip((X, mask, gold), held))
    for s in range(seeds):
        perm = np.random.default_rng(100 + s).permutation(n)
        st, dv = perm[:-dev], (perm[-dev:] if held is None else np.arange(n, len(X)))
        cfg = GameConfig(**{**BASE, **arm.cfg, "seed": s})
        game = _play.Game(cfg, len(st), X.shape[2])
        if arm.pending == "fresh":
            game.assess_window = _fresh_pending(game, X[st], mask[st])
        oracle = _oracle(arm, gold[st], mask[st], s)
        asked = {}
        rule = "hardest" if arm.pairs == "per_label" else arm.pairs
        _lead.supervised_pairs = _sequential(game.leader) if rule == "sequential" else PAIR_RULES[rule]
        if arm.pairs == "per_label":
            _lead.Leader.learn = _per_label_learn
        try:
            for start in range(0, len(st), cfg.window):
                rows = st[start:start + cfg.window]
                game.step(X[rows], mask[rows], lambda t: asked.setdefault(t, oracle(t)), lambda r: (X[st][r], mask[st][r]))
        finally:
            _lead.supervised_pairs, _lead.Leader.learn = _HARDEST, _LEARN
        res = game.result()
        theta = res.theta
        zero = float((np.where(mask[dv], X[dv][:, :, 0], -np.inf).argmax(1) == gold[dv]).mean())
        paid = np.nonzero(res.queried)[0]
        prior = np.where(mask[st][paid], X[st][paid][:, :, 0], -np.inf).argmax(1)
        answers = np.array([asked[int(t)] for t in paid], dtype=np.int64)
        if arm.lam_tails and paid.size:
            chosen, cross = _select_lam_tail(cfg, X[st][paid], mask[st][paid], answers, res.paid_at[paid], arm.lam_tails)
            if chosen is not cfg:  # the game's own config: its theta is the game's (replay_leader reproduces it)
                theta = replay_leader(X[st][paid], mask[st][paid], answers, res.paid_at[paid], chosen).theta
            out.setdefault("lam_tail", []).append(chosen.lam_tail)
        else:
            cross = held_out_predictions(X[st][paid], mask[st][paid], answers, res.paid_at[paid], cfg)
        acc = float((predict(theta, X[dv], mask[dv]) == gold[dv]).mean())
        served = choose_head(cross, prior, answers, level).head == "learned"
        for key, value in (("acc", acc), ("zero", zero), ("labels", res.labels_used), ("cross", served),
                           ("sign", choose_head(res.predictions[paid], prior, answers, level).head == "learned"),
                           ("better", acc > zero), ("served_acc", acc if served else zero)):
            out[key].append(value)
    return out


def paired(a: list[float], b: list[float]) -> tuple[float, float, int]:
    """Mean of a - b, the half-width of its 95% t-interval, and how many seeds a wins."""
    d = np.asarray(a) - np.asarray(b)
    t = {2: 12.71, 3: 4.30, 4: 3.18, 5: 2.78, 6: 2.57, 7: 2.45, 8: 2.36, 9: 2.31, 10: 2.26}.get(len(d), 1.96)
    half = t * d.std(ddof=1) / math.sqrt(len(d)) if len(d) > 1 else float("nan")
    return float(d.mean()), float(half), int(np.sum(d > 0))


def _compared_with(arm: Arm) -> list[str]:
    """The arms this one is paired with: its baseline, and for a `rank=` arm the same arm ranking by width."""
    if arm.cfg.get("strategy") == "zero_shot":
        return []
    return [b for b in dict.fromkeys((arm.baseline, arm.name.replace(f" rank={arm.cfg.get('rank')}", ""))) if b != arm.name]


def table(results: dict, order: list[Arm]) -> str:
    lines = ["| arm | acc (dev, or --eval split) | paired difference (mean, 95% t-CI, seeds won) | labels | served: sign / cross-fit "
             "| learned better | served acc (worst - zero-shot) |", "|---|---|---|---|---|---|---|"]
    for arm in order:
        r = results[arm.name]
        acc = np.mean(r["acc"])
        cmp = ""
        for b in (b for b in _compared_with(arm) if b in results):
            m, h, w = paired(r["acc"], results[b]["acc"])
            cmp += f"{'; ' if cmp else ''}{m:+.3f} ± {h:.3f} ({w}/{len(r['acc'])}) vs {b}"
        lines.append(f"| {arm.name} | {acc:.3f} | {cmp} | {np.mean(r['labels']):.0f} | "
                     f"{sum(r['sign'])} / {sum(r['cross'])} | {sum(r['better'])} | "
                     f"{np.mean(r['served_acc']):.3f} ({min(np.subtract(r['served_acc'], r['zero'])):+.3f}) |")
    return "\n".join(lines)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--pool", default="openbookqa:train:700", help="data spec:limit of a TRAIN split")
    p.add_argument("--dev", type=int, default=200, help="items per seed held out of the stream and scored")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--level", type=float, default=0.1, help="the guard's significance level")
    p.add_argument("--eval", default="", help="spec:limit of a split to REPORT on instead of the dev split (raw-feature "
                   "arms only; the guard's power on the real evaluation split). Never choose a knob from it")
    p.add_argument("--format", default="cloze", choices=("cloze", "letter"), help="prompt format of the cached features")
    p.add_argument("--only", default="", help="comma-separated arm names (default: all)")
    p.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"))
    args = p.parse_args(argv)
    spec, limit = args.pool.rsplit(":", 1)
    if "test" in spec:
        raise SystemExit("--pool: ablations choose knobs, so they run on train splits only")
    phi, mask, gold, _ = load_cached(spec, int(limit), fmt=args.format)
    held, order = None, arms()
    if args.eval:
        espec, elimit = args.eval.rsplit(":", 1)
        held = load_cached(espec, int(elimit), fmt=args.format)[:3]
        order = [a for a in order if a.feats == "raw" and not a.noise]
    if args.only:
        wanted = set(args.only.split(","))
        wanted |= {b for a in order if a.name in wanted for b in _compared_with(a)}
        order = [a for a in order if a.name in wanted]
    results = {}
    for arm in order:
        results[arm.name] = play_arm(arm, phi, mask, gold, args.seeds, args.dev, args.level, held)
        r = results[arm.name]
        print(f"{arm.name:32s} acc {np.mean(r['acc']):.3f}  labels {np.mean(r['labels']):.0f}  "
              f"sign {sum(r['sign'])} cross {sum(r['cross'])} better {sum(r['better'])}", flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"label_efficiency_{spec.replace(':', '_')}" + (f"_eval_{args.eval.rsplit(':', 1)[0].replace(':', '_')}" if args.eval else "")
    stem += "" if args.format == "cloze" else f"_{args.format}"
    head = (f"{spec} (first {limit} items, seed-0 sample, {args.format} features): per seed s the stream is {int(limit) - args.dev} items and "
            f"the dev split {args.dev} (permutation seed 100 + s)" + (f", scored on {args.eval} instead" if args.eval else "") +
            f"; {args.seeds} seeds; defaults {BASE}; guard level {args.level}.")
    (out / f"{stem}.json").write_text(json.dumps({"pool": args.pool, "seeds": args.seeds, "dev": args.dev, "base": BASE,
                                                   "arms": {a.name: {**a.__dict__, **results[a.name]} for a in order}}, indent=1))
    (out / f"{stem}.md").write_text(head + "\n\n" + table(results, order) + "\n")
    print(head + "\n\n" + table(results, order))


if __name__ == "__main__":
    sys.exit(main())
