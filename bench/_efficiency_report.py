"""Tables and plots of bench/label_efficiency.py: docs/results.md, one PNG per set, the README's short table.

Kept apart from the experiment so that the report can be rewritten from a saved runs.json
(`python bench/_efficiency_report.py bench/results/label_efficiency/runs.json`) without replaying a game.

Statistics. Accuracies are means over seeds with a 95% t-interval over seeds (the evaluation split
is the same for every seed, so the interval measures the pool order and `random`'s draws; the
evaluation sample adds a binomial standard error of about 0.022 at 500 items). Differences between
strategies are paired by seed. Gain retained, (acc_beta - acc_0) / (acc_full - acc_0), is given only
where full information beats zero-shot by more than twice the item-level paired standard error;
elsewhere the ratio is noise divided by noise.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from stackray.run.orders import mean_ci  # mean and 95% t-interval half-width (None for one value)

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "results.md"
IMG = ROOT / "docs" / "img"
START, END = "<!-- label-efficiency:start -->", "<!-- label-efficiency:end -->"
SHOWN = ("llf", "random", "margin", "entropy", "passive", "logreg")
LEARNERS = ("llf", "random", "margin", "entropy", "passive")


def machine_note() -> str:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _report import machine_line

    return machine_line()


def _pick(records, strategy, beta=None):
    rows = [r for r in records if r["strategy"] == strategy and (beta is None or r["beta"] == beta)]
    return sorted(rows, key=lambda r: r["seed"])


def gap(records) -> tuple[float, float, bool]:
    """full - zero-shot on the evaluation items (paired per item, full averaged over seeds), its SE, clear?"""
    full = np.mean([r["correct"] for r in _pick(records, "full")], axis=0)
    zero = np.asarray(_pick(records, "zero_shot")[0]["correct"], dtype=float)
    d = full - zero
    se = float(d.std(ddof=1) / np.sqrt(d.size))
    return float(d.mean()), se, bool(d.mean() > 2 * se)


def summary(records, beta: float) -> dict:
    """Per strategy at `beta`: accuracy (mean, CI), labels, gain retained, retained, served counts."""
    acc_0 = _pick(records, "zero_shot")[0]["acc"]
    acc_f = mean_ci([r["acc"] for r in _pick(records, "full")])[0]
    diff, _, clear = gap(records)
    out = {"zero_shot": acc_0, "full": acc_f, "gap": diff, "clear": clear}
    for s in SHOWN:
        rows = _pick(records, s, beta)
        accs = [r["acc"] for r in rows]
        m, h = mean_ci(accs)
        out[s] = {"acc": m, "ci": h, "labels": float(np.mean([r["labels"] for r in rows])),
                  "gain": (m - acc_0) / diff if clear else None, "retained": m / acc_f,
                  "served": sum(r["served"] == "learned" for r in rows), "n": len(rows),
                  "served_acc": float(np.mean([r["served_acc"] for r in rows])),
                  "worst_served": float(min(r["served_acc"] for r in rows) - acc_0)}
    return out


def paired(records, beta: float, a: str, b: str) -> str:
    x = np.array([r["acc"] for r in _pick(records, a, beta)])
    y = np.array([r["acc"] for r in _pick(records, b, beta)])
    m, h = mean_ci(x - y)
    return f"{m:+.3f} ± {h or 0:.3f} ({int(np.sum(x > y))}/{len(x)})"


def _fmt(v: float | None) -> str:
    return "–" if v is None else f"{v:.2f}"


def set_tables(name: str, records, meta: dict, betas) -> str:
    s10 = summary(records, 0.1)
    diff, se, clear = gap(records)
    lines = [f"### {name}", "",
             f"Pool {meta['spec']['pool']} ({meta['pool']} items), evaluated on "
             f"{meta['spec'].get('eval') or 'a held-out share of the same split'} ({meta['eval']} items), d = {meta['d']}. "
             f"Zero-shot {s10['zero_shot']:.3f}; full information {s10['full']:.3f} "
             f"({diff:+.3f} ± {1.96 * se:.3f} over zero-shot, paired by item: "
             f"{'a clear gap, so gain retained is reported' if clear else 'not clearly above noise, so no gain retained'}).",
             "", f"![accuracy vs labels, {name}](img/label_efficiency_{name}.png)", "",
             "| beta | labels | " + " | ".join(SHOWN) + " | llf − random | llf − margin | llf − entropy | llf served |",
             "|---|---|" + "---|" * (len(SHOWN) + 4)]
    for beta in betas:
        s = summary(records, beta)
        cells = [f"{s[k]['acc']:.3f} ± {s[k]['ci'] or 0:.3f}" for k in SHOWN]
        lines.append(f"| {beta:g} | {s['llf']['labels']:.0f} | " + " | ".join(cells) + " | "
                     + " | ".join(paired(records, beta, "llf", b) for b in ("random", "margin", "entropy"))
                     + f" | {s['llf']['served']}/{s['llf']['n']} |")
    return "\n".join(lines) + "\n"


def lead_table(doc: dict) -> str:
    """The README's table: beta = 0.1, every set."""
    lines = ["| set | zero-shot | full | llf (served) | random (served) | labels | gain retained llf / random "
             "| retained llf | llf − random |", "|---|---|---|---|---|---|---|---|---|"]
    for name in doc["sets"]:
        recs = [r for r in doc["records"] if r["set"] == name]
        s = summary(recs, 0.1)
        lines.append(f"| {name} | {s['zero_shot']:.3f} | {s['full']:.3f} | "
                     f"{s['llf']['acc']:.3f} ± {s['llf']['ci'] or 0:.3f} ({s['llf']['served']}/{s['llf']['n']}) | "
                     f"{s['random']['acc']:.3f} ± {s['random']['ci'] or 0:.3f} ({s['random']['served']}/{s['random']['n']}) | "
                     f"{s['llf']['labels']:.0f} | {_fmt(s['llf']['gain'])} / {_fmt(s['random']['gain'])} | "
                     f"{s['llf']['retained']:.2f} | {paired(recs, 0.1, 'llf', 'random')} |")
    return "\n".join(lines) + "\n"


def guard_table(doc: dict, beta: float = 0.1) -> str:
    """How the never-worse guard behaved at `beta`, over every learned head (all learners, all seeds):
    power = served / heads in fact better than zero-shot on the evaluation split; false switches =
    heads served that are in fact worse; the worst served accuracy relative to zero-shot."""
    lines = ["| set | heads better than zero-shot | of them served (power) | heads worse | of them served (false switch) "
             "| worst served − zero-shot |", "|---|---|---|---|---|---|"]
    for name in doc["sets"]:
        recs = [r for r in doc["records"] if r["set"] == name]
        acc_0 = _pick(recs, "zero_shot")[0]["acc"]
        heads = [r for s in LEARNERS for r in _pick(recs, s, beta)]
        better = [r for r in heads if r["acc"] > acc_0]
        worse = [r for r in heads if r["acc"] < acc_0]
        served = lambda rows: sum(r["served"] == "learned" for r in rows)  # noqa: E731
        worst = min(r["served_acc"] for r in heads) - acc_0
        lines.append(f"| {name} | {len(better)} of {len(heads)} | {served(better)} "
                     f"({served(better) / max(1, len(better)):.0%}) | {len(worse)} | {served(worse)} | {worst:+.3f} |")
    return "\n".join(lines) + "\n"


def plot(name: str, records, betas) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for s in SHOWN:
        pts = [(np.mean([r["labels"] for r in _pick(records, s, b)]), *mean_ci([r["acc"] for r in _pick(records, s, b)]))
               for b in betas]
        x, y, h = (np.array(v, dtype=float) for v in zip(*pts))
        ax.errorbar(x, y, yerr=h, marker="o", ms=3, capsize=2, label=s)
    ax.axhline(_pick(records, "zero_shot")[0]["acc"], color="grey", ls="--", label="zero-shot")
    ax.axhline(np.mean([r["acc"] for r in _pick(records, "full")]), color="black", ls=":", label="full")
    ax.set_xscale("log")
    ax.set(xlabel="labels used", ylabel="held-out accuracy", title=name)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    IMG.mkdir(parents=True, exist_ok=True)
    path = IMG / f"label_efficiency_{name}.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_report(doc: dict, out: Path) -> None:
    betas = sorted({r["beta"] for r in doc["records"] if r["strategy"] == "llf"})
    parts = [START, "", f"Model: {doc['model']} ({doc['backend']} backend). {doc['machine']}",
             f"Seeds: {doc['seeds']} pool orders per set. Game settings (the demo's): {doc['settings']}; "
             f"guard level {doc['level']}. Produced by `bench/label_efficiency.py`; per-run records in "
             "bench/results/label_efficiency/runs.json.", "", "#### At beta = 0.1", "", lead_table(doc),
             "#### The guard at beta = 0.1 (every learned head of every learner and seed)", "", guard_table(doc)]
    for name, meta in doc["sets"].items():
        recs = [r for r in doc["records"] if r["set"] == name]
        plot(name, recs, betas)
        parts.append(set_tables(name, recs, meta, betas))
    parts.append(END)
    block = "\n".join(parts)
    (out / "tables.md").write_text(block + "\n")
    text = DOC.read_text() if DOC.exists() else "# Results\n"
    if START in text and END in text:
        text = text[: text.index(START)] + block + text[text.index(END) + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n## Label efficiency\n\n" + block + "\n"
    DOC.write_text(text)
    print(f"wrote {DOC}, {out / 'tables.md'} and {len(doc['sets'])} plots under {IMG}")


if __name__ == "__main__":
    path = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "bench/results/label_efficiency/runs.json")
    write_report(json.loads(path.read_text()), path.parent)
