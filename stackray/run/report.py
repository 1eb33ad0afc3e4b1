"""What a run reports: metrics lines, the summary table (with the retained-accuracy ratios), the curve.

retained      = acc / acc_full
gain retained = (acc - acc_0) / (acc_full - acc_0)   (acc_0: the zero-shot prior; None when there is no gap)
Gain retained leads: retained flatters any method when zero-shot is already close to full information.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from stackray.io import atomic_write, atomic_write_text

SUMMARY_FILE = "summary.json"
METRICS_FILE = "metrics.jsonl"
CURVE_FILE = "learning_curve.png"


def write_metrics(run_dir: Path, lines: list[dict]) -> None:
    """Rewrite metrics.jsonl from the checkpointed list (atomic: a resumed run never duplicates a line)."""
    atomic_write_text(run_dir / METRICS_FILE, "".join(json.dumps(m, sort_keys=True) + "\n" for m in lines))


def ratios(acc: float | None, acc_0: float | None, acc_full: float | None) -> tuple[float | None, float | None]:
    if acc is None or acc_full is None:
        return None, None
    retained = acc / acc_full if acc_full > 0 else None
    gap = None if acc_0 is None else acc_full - acc_0
    gain = (acc - acc_0) / gap if gap is not None and abs(gap) > 1e-12 else None
    return retained, gain


def summary_rows(results: dict[str, dict], acc_0: float | None) -> list[dict]:
    """Add retained / gain retained to each strategy's row (against `full` when it was played)."""
    acc_full = results.get("full", {}).get("accuracy")
    rows = []
    for name, r in results.items():
        retained, gain = ratios(r.get("accuracy"), acc_0, acc_full)
        rows.append({"strategy": name, **r, "retained": retained, "gain_retained": gain})
    return rows


def _fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def format_table(rows: list[dict], acc_0: float | None) -> str:
    head = (f"{'strategy':<10} {'labels':>7} {'budget':>7} {'acc(theta)':>10} {'served':>8} {'acc(served)':>11} "
            f"{'retained':>9} {'gain ret.':>9}")
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['strategy']:<10} {r['labels_used']:>7d} {r['budget']:>7.0f} {_fmt(r['accuracy'], '.3f'):>10} "
                     f"{r['served']:>8} {_fmt(r['served_accuracy'], '.3f'):>11} {_fmt(r['retained'], '.3f'):>9} "
                     f"{_fmt(r['gain_retained'], '.3f'):>9}")
    lines.append(f"zero-shot prior accuracy: {_fmt(acc_0, '.3f')}")
    for r in rows:  # never worse than the start: say which head each strategy serves, and why
        lines.append(f"{r['strategy']} serves the {r['served']} head: {r['head_choice']['reason']}")
    return "\n".join(lines)


def write_summary(run_dir: Path, doc: dict) -> Path:
    path = run_dir / SUMMARY_FILE
    atomic_write_text(path, json.dumps(doc, indent=1, sort_keys=True) + "\n")
    return path


def draw_curve(run_dir: Path, metrics: list[dict], title: str) -> Path | None:
    """Held-out accuracy against labels used (left) and rounds played (right), one line per strategy."""
    points = [m for m in metrics if m.get("accuracy") is not None]
    if not points:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for name in dict.fromkeys(m["strategy"] for m in points):
        mine = [m for m in points if m["strategy"] == name]
        labels = np.array([m["labels_used"] for m in mine])
        rounds = np.array([m["rounds"] for m in mine])
        acc = np.array([m["accuracy"] for m in mine])
        left.plot(labels, acc, marker="o", ms=3, label=name)
        right.plot(rounds, acc, marker="o", ms=3, label=name)
    left.set_xscale("symlog", linthresh=10)
    left.set_xlabel("labels used")
    right.set_xlabel("rounds played")
    for ax in (left, right):
        ax.set_ylabel("held-out accuracy")
        ax.grid(alpha=0.3)
    right.legend()
    fig.suptitle(title)
    fig.tight_layout()
    path = run_dir / CURVE_FILE
    try:
        atomic_write(path, lambda fh: fig.savefig(fh, format="png", dpi=110))
    finally:
        plt.close(fig)
    return path


def read_summary(run_dir: Path) -> dict:
    return json.loads((run_dir / SUMMARY_FILE).read_text())
