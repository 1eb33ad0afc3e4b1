"""The guard's level and audit veto, judged from the label-efficiency report's records alone.

Run:  .venv/bin/python bench/guard_level.py      (after bench/label_efficiency.py; writes guard_level.md beside runs.json)

Every learned head of bench/label_efficiency.py (learners llf, random, margin, entropy, passive; every beta
and seed) carries the counts the run's guard decided on: held-out wins and losses against the prior on
the paid rounds, and the same on the audit rounds. So any level and veto rule can be replayed without
playing a game again. Each rule is judged twice:

- on the stream's unpaid rounds (the pool's questions that no label was paid for: a development split,
  the one a rule is chosen on), and
- on the evaluation split (reported, never chosen on).

Per rule: how many heads that are in fact better than zero-shot it serves (power), how many worse ones
(false switches), the mean served accuracy minus zero-shot over all heads (what a user gets on average),
and the worst served head.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from stackray.run.served_head import sign_test  # noqa: E402

LEVELS = (0.2, 0.1, 0.05, 0.025, 0.01)
VETOES = {"none": lambda w, l: True, "wins >= losses": lambda w, l: w >= l, "wins > losses": lambda w, l: w > l}


def serves(guard: dict, level: float, veto) -> bool:
    w, l = guard["wins"], guard["losses"]
    if not (w > l and sign_test(w, l) <= level):
        return False
    if guard["audit_rounds"] is None or guard["audit_rounds"] >= guard["paid_rounds"]:
        return True  # a uniform gate: every paid round is an audit round, the veto adds nothing
    return veto(guard["audit_wins"], guard["audit_losses"])


def heads(records: list[dict]) -> list[dict]:
    zero = {(r["set"], r["seed"]): r["acc"] for r in records if r["strategy"] == "zero_shot"}
    out = []
    for r in records:
        if r.get("guard") and r["strategy"] not in ("full", "zero_shot", "logreg") and r["stream_acc"] is not None:
            out.append({**r, "zero_eval": zero[(r["set"], r["seed"])]})
    return out


def judge(hs: list[dict], level: float, veto, split: str) -> dict:
    acc = np.array([h["stream_acc"] if split == "dev" else h["acc"] for h in hs])
    zero = np.array([h["stream_zero"] if split == "dev" else h["zero_eval"] for h in hs])
    served = np.array([serves(h["guard"], level, veto) for h in hs])
    better, worse = acc > zero, acc < zero
    gain = np.where(served, acc - zero, 0.0)
    return {"power": f"{int((served & better).sum())} of {int(better.sum())}",
            "false": f"{int((served & worse).sum())} of {int(worse.sum())}",
            "mean_gain": float(gain.mean()), "worst": float(gain[served].min()) if served.any() else 0.0}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", default=str(ROOT / "bench" / "results" / "label_efficiency" / "runs.json"))
    args = p.parse_args(argv)
    doc = json.loads(Path(args.runs).read_text())
    hs = heads(doc["records"])
    if not hs:
        raise SystemExit(f"{args.runs}: no record carries the guard's counts; rerun bench/label_efficiency.py")
    model_guided = [h for h in hs if h["strategy"] in ("llf", "margin", "entropy")]
    lines = [f"{len(hs)} learned heads ({doc['seeds']} seeds, {', '.join(doc['sets'])}; every beta and learner) "
             f"from {Path(args.runs).relative_to(ROOT) if Path(args.runs).is_relative_to(ROOT) else args.runs}; "
             f"{doc['machine']}", "",
             "| level | audit veto | dev: power | dev: false switch | dev: mean served - zero | dev: worst "
             "| eval: power | eval: false switch | eval: mean served - zero | eval: worst |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for level in LEVELS:
        for name, veto in VETOES.items():
            d, e = judge(hs, level, veto, "dev"), judge(hs, level, veto, "eval")
            lines.append(f"| {level:g} | {name} | {d['power']} | {d['false']} | {d['mean_gain']:+.4f} | {d['worst']:+.3f} "
                         f"| {e['power']} | {e['false']} | {e['mean_gain']:+.4f} | {e['worst']:+.3f} |")
    lines += ["", f"Model-guided gates only (llf, margin, entropy: {len(model_guided)} heads), where the veto applies:", "",
              "| level | audit veto | dev: power | dev: false switch | eval: power | eval: false switch | eval: worst |",
              "|---|---|---|---|---|---|---|"]
    for level in LEVELS:
        for name, veto in VETOES.items():
            d, e = judge(model_guided, level, veto, "dev"), judge(model_guided, level, veto, "eval")
            lines.append(f"| {level:g} | {name} | {d['power']} | {d['false']} | {e['power']} | {e['false']} | {e['worst']:+.3f} |")
    text = "\n".join(lines) + "\n"
    (Path(args.runs).parent / "guard_level.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
