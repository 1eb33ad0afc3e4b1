"""Several seeded orders of one pool: is a strategy's result a property of the task or of one lucky order?

One run says little: on 300 held-out questions one standard error is about 0.027, and the order in
which the pool arrives moves a 70-label result by as much. With `data.orders: N` the run directory
holds N complete runs, RUN_DIR/order-0 .. order-<N-1>, each an ordinary run (its own ledgers,
checkpoints, summary and served head) of the same pool played in order k (data.order = k). They run
one after another; the features computed for order 0 are cached per chunk of the stored pool, so the
later orders read them back and load no model.

The top-level summary.json gives, per strategy, the mean and a 95% t-interval over orders of the
held-out accuracy, the labels used, how many orders serve the learned head, and the paired difference
of each strategy against `random` (same order, same labels budget). `--resume RUN_DIR` skips the
orders that finished, resumes the one that was interrupted, and starts the rest.

The serving and labelling commands work on one order's directory (RUN_DIR/order-<k>): each order is a
complete run.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from stackray.run import report
from stackray.run.config import RunConfig, config_from_dict

T95 = {2: 12.71, 3: 4.30, 4: 3.18, 5: 2.78, 6: 2.57, 7: 2.45, 8: 2.36, 9: 2.31, 10: 2.26}


def mean_ci(values) -> tuple[float, float | None]:
    """Mean and the half-width of its 95% t-interval (None for a single value)."""
    v = np.asarray(values, dtype=float)
    if v.size < 2:
        return float(v.mean()), None
    return float(v.mean()), T95.get(v.size, 1.96) * float(v.std(ddof=1)) / math.sqrt(v.size)


def order_config(config: RunConfig, k: int) -> RunConfig:
    """Order k's own config: the same run with data.order = k, data.orders = 1."""
    raw = config.to_dict()
    raw["data"] = {**raw["data"], "order": k, "orders": 1}
    return config_from_dict(raw, f"{config.source} (order {k})")


def run_orders(config: RunConfig | None, run_dir: Path, *, resume: bool, progress: bool | None, on_window=None) -> dict:
    """Play every order (skipping finished ones on resume) and write the top-level summary."""
    from stackray.run.driver import CONFIG_FILE, ActiveRun, run_config

    config = run_config(run_dir, config, resume, f"{config.data.orders if config else 'several'} orders of one pool")
    summaries = []
    for k in range(config.data.orders):
        sub = run_dir / f"order-{k}"
        if (sub / report.SUMMARY_FILE).is_file():
            summaries.append(report.read_summary(sub))
            continue
        again = (sub / CONFIG_FILE).is_file()
        if progress is not False:
            print(f"order {k + 1}/{config.data.orders}: {'resuming' if again else 'playing'} {sub}", flush=True)
        summaries.append(ActiveRun(None if again else order_config(config, k), sub, resume=again,
                                   progress=progress).run(on_window))
    return _summarise(config, run_dir, summaries)


def _summarise(config: RunConfig, run_dir: Path, summaries: list[dict]) -> dict:
    per_order = [{r["strategy"]: r for r in s["rows"]} for s in summaries]
    acc_0 = summaries[0]["zero_shot_accuracy"]
    rows = []
    for strategy in config.strategies:
        got = [o[strategy] for o in per_order]
        acc = [r["accuracy"] for r in got]
        row = {"strategy": strategy, "orders": len(got), "accuracy": mean_ci(acc) if None not in acc else (None, None),
               "served_accuracy": mean_ci([r["served_accuracy"] for r in got]) if None not in acc else (None, None),
               "labels_used": float(np.mean([r["labels_used"] for r in got])),
               "budget": float(np.mean([r["budget"] for r in got])),
               "learned_served": sum(r["served"] == "learned" for r in got)}
        if "random" in config.strategies and strategy != "random" and None not in acc:
            row["minus_random"] = mean_ci(np.subtract(acc, [o["random"]["accuracy"] for o in per_order]))
        rows.append(row)
    doc = {"name": config.name, "run_dir": str(run_dir), "pool": config.data.pool, "eval": config.data.eval,
           "orders": [str(run_dir / f"order-{k}") for k in range(len(summaries))], "zero_shot_accuracy": acc_0,
           "rows": rows, "curve": summaries[0].get("curve")}
    report.write_summary(run_dir, doc)
    doc["table"] = format_orders_table(rows, acc_0, len(summaries))
    return doc


def _pm(pair) -> str:
    mean, half = pair
    if mean is None:
        return "-"
    return f"{mean:.3f}" + ("" if half is None else f" ± {half:.3f}")


def format_orders_table(rows: list[dict], acc_0: float | None, n: int) -> str:
    head = (f"{'strategy':<10} {'labels':>7} {'held-out accuracy':>19} {'served (learned)':>17} {'acc(served)':>17} "
            f"{'minus random':>17}")
    lines = [f"mean ± 95% CI over {n} seeded orders of the pool", head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['strategy']:<10} {r['labels_used']:>7.0f} {_pm(r['accuracy']):>19} "
                     f"{r['learned_served']:>11d} of {r['orders']:<3d} {_pm(r['served_accuracy']):>17} "
                     f"{_pm(r.get('minus_random', (None, None))):>17}")
    lines.append(f"zero-shot prior accuracy: {'-' if acc_0 is None else format(acc_0, '.3f')}")
    lines.append("each order's own table, with the reason each head is served: RUN_DIR/order-<k>/summary.json")
    return "\n".join(lines)
