"""Audit labels and the served-head guard: does a uniformly drawn share of llf's budget stop false switches?

    PYTHONPATH=$PWD .venv/bin/python bench/guard_audit.py [--sets openbookqa,arc_challenge,...] [--seeds 5]
        [--audit 0.25] [--out bench/results/guard_audit]

Why: llf, margin and entropy pay for the rounds where the model is unsure, so the guard's comparison of a
learned head with the zero-shot prior is made on a biased sample of the stream; on ARC-Challenge it served
heads worse than zero-shot (docs/results.md). `GameConfig.audit` spends a share of the budget on rounds
drawn uniformly, and the guard also asks the learned head not to lose on them (stackray.run.served_head).

Every model-guided learner plays every set, beta and seed twice, with `audit` = 0 and with the value
given, on the same pool order and the demo's other settings (bench/label_efficiency.py). Two splits judge
each learned head against zero-shot:
- **stream**: the pool's own rounds the head saw no label of (a train split): the development split, the
  one to choose `audit` on;
- **eval**: the set's evaluation split, never used for choosing: the report.

Power = served heads among those in fact better than zero-shot; false switch = served heads among those
in fact worse; "worst" = the lowest served accuracy minus zero-shot, and whether it lies below zero-shot's
95% binomial interval. Also the cost: llf's final accuracy with audit labels minus without (paired by seed).
Features come from the project's feature cache (filled by bench/label_efficiency.py --features-only).
Writes <out>/runs.json and <out>/guard_audit.md.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _efficiency_report import machine_note  # noqa: E402
from label_efficiency import SETS, game_settings, play_one, set_features, zero_shot_correct  # noqa: E402

from stackray.run.orders import mean_ci  # noqa: E402

LEARNERS = ("llf", "margin", "entropy")  # the gates that choose rounds by the model; uniform gates are unchanged
BETAS = (0.05, 0.1, 0.2)


def play_set(name: str, feats: dict, seeds: int, audit: float, settings: dict) -> list[dict]:
    records = []
    for seed in range(seeds):
        for beta in BETAS:
            for strategy in LEARNERS:
                for a in (0.0, audit):
                    rec = play_one(strategy, beta, seed, feats, {**settings, "audit": a})
                    rec.pop("correct")
                    records.append({"set": name, "audit": a, **rec})
    return records


def guard_rows(records: list[dict], zero_eval: float, n_eval: int, split: str) -> dict:
    """Power, false switches and the worst served head on `split` (stream or eval) for one audit arm."""
    acc = (lambda r: r["acc"]) if split == "eval" else (lambda r: r["stream_acc"])
    zero = (lambda r: zero_eval) if split == "eval" else (lambda r: r["stream_zero"])
    better = [r for r in records if acc(r) > zero(r)]
    worse = [r for r in records if acc(r) < zero(r)]
    served = [r for r in records if r["served"] == "learned"]
    gains = [acc(r) - zero(r) if r["served"] == "learned" else 0.0 for r in records]
    worst = min(gains) if gains else 0.0
    ci = 1.96 * math.sqrt(zero_eval * (1 - zero_eval) / n_eval) if split == "eval" else None
    return {"heads": len(records), "better": len(better), "power": sum(r["served"] == "learned" for r in better),
            "worse": len(worse), "false": sum(r["served"] == "learned" for r in worse), "served": len(served),
            "mean_gain": float(np.mean(gains)), "worst": worst, "beyond_ci": ci is not None and worst < -ci}


def report(doc: dict) -> str:
    lines = [f"Model: {doc['model']}. {doc['machine']}", f"Seeds: {doc['seeds']}; betas {list(BETAS)}; "
             f"learners {', '.join(LEARNERS)}; audit {doc['audit']} vs 0; guard level 0.1; other settings the demo's.", ""]
    for split in ("stream", "eval"):
        title = ("stream (the pool's unlabelled rounds: development)" if split == "stream"
                 else "eval (the evaluation split: report only)")
        lines += [f"#### Judged on {title}", "",
                  "| set | audit | heads better | served (power) | heads worse | served (false switch) "
                  "| mean served − zero-shot | worst served − zero-shot |", "|---|---|---|---|---|---|---|---|"]
        for name, meta in doc["sets"].items():
            for a in (0.0, doc["audit"]):
                recs = [r for r in doc["records"] if r["set"] == name and r["audit"] == a]
                g = guard_rows(recs, meta["zero_eval"], meta["eval"], split)
                flag = " (beyond CI)" if g["beyond_ci"] else ""
                lines.append(f"| {name} | {a:g} | {g['better']} of {g['heads']} | {g['power']} | {g['worse']} "
                             f"| {g['false']} | {g['mean_gain']:+.3f} | {g['worst']:+.3f}{flag} |")
        lines.append("")
    lines += ["#### What audit labels cost llf (final head, eval split, paired by seed)", "",
              "| set | beta | llf, audit 0 | llf, audit | difference (wins) |", "|---|---|---|---|---|"]
    for name in doc["sets"]:
        for beta in BETAS:
            pick = lambda a: [r["acc"] for r in sorted(doc["records"], key=lambda r: r["seed"])  # noqa: E731
                              if r["set"] == name and r["beta"] == beta and r["strategy"] == "llf" and r["audit"] == a]
            base, with_audit = pick(0.0), pick(doc["audit"])
            diff = np.subtract(with_audit, base)
            m, h = mean_ci(diff)
            lines.append(f"| {name} | {beta:g} | {np.mean(base):.3f} | {np.mean(with_audit):.3f} "
                         f"| {m:+.3f} ± {h or 0:.3f} ({int(np.sum(diff > 0))}/{len(diff)}) |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sets", default=",".join(SETS), help=f"comma-separated, from {', '.join(SETS)}")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--audit", type=float, default=0.25, help="the audit share compared with none")
    p.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "guard_audit"))
    args = p.parse_args(argv)
    names = [s.strip() for s in args.sets.split(",") if s.strip()]
    unknown = [s for s in names if s not in SETS]
    if unknown:
        raise SystemExit(f"--sets: unknown set(s) {', '.join(unknown)}; choose from {', '.join(SETS)}")
    settings = {k: v for k, v in game_settings().items() if k != "audit"}
    doc = {"model": "SmolLM2-135M-Instruct (bundled GGUF)", "machine": machine_note(), "seeds": args.seeds,
           "audit": args.audit, "settings": settings, "sets": {}, "records": []}
    for name in names:
        feats = set_features(name, None, "transformers")
        e_phi, e_mask, e_gold = feats["eval"]
        doc["sets"][name] = {"eval": len(e_gold), "zero_eval": float(zero_shot_correct(e_phi, e_mask, e_gold).mean())}
        doc["records"] += play_set(name, feats, args.seeds, args.audit, settings)
        print(f"{name}: {len(doc['records'])} games played", flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "runs.json").write_text(json.dumps(doc))
    (out / "guard_audit.md").write_text(report(doc))
    print(report(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
