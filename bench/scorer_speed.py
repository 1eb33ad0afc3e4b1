"""Scorer speed: the naive one-sequence-per-option loop vs tree-packed prefix sharing.

    .venv/bin/python bench/scorer_speed.py [--limit 200] [--batch-sizes 8,16,32] [--no-write]

Both modes compute the same features (tests/scoring/test_scorer_real.py checks it to 1e-4) from
the same loaded SmolLM2 weights, on the same MMLU validation sample, cloze format, including the
calibration term's neutral-prompt scoring. Reported per mode: questions/s and scored tokens/s,
where "scored tokens" is Σ over options of (prompt tokens + option tokens), the work a
one-sequence-per-option scorer does, so the tokens/s ratio equals the questions/s ratio and reads
as "effective throughput". The naive loop runs one sequence per forward (batch 1).

Writes (replaces) only its own section, `## Scorer speed`, of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import platform
import re
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SECTION = "## Scorer speed"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load_average() -> str:
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "?"


def write_section(path: Path, body: str) -> None:
    """Replace the `## Scorer speed` section of ``path`` (up to the next `## `), or append it."""
    text = path.read_text() if path.is_file() else "# Benchmarks\n"
    block = f"{SECTION}\n\n{body.strip()}\n"
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: block + "\n", text, count=1).rstrip() + "\n"
    else:
        text = text.rstrip() + "\n\n" + block
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text(text)
    tmp.replace(path)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="mmlu:validation")
    ap.add_argument("--limit", type=int, default=200)
    ap.add_argument("--batch-sizes", default="8,16,32", help="questions per packed forward, comma-separated")
    ap.add_argument("--naive-limit", type=int, default=None, help="time the naive loop on fewer questions (default: all)")
    ap.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()

    from stackray.data import load_items
    from stackray.scoring import load_scorer
    from stackray.scoring.hf_backend import available_cpus
    from stackray.scoring.prompts import build_prompts

    items = load_items(args.data, limit=args.limit)
    scorer = load_scorer(d_h=64)
    t0 = time.perf_counter()
    scorer.ensure_loaded()
    load_s = time.perf_counter() - t0

    def scored_tokens(subset) -> int:
        tok = scorer._tokenize(build_prompts(subset, "cloze"))
        return sum(len(p) * len(cs) + sum(len(c) for c in cs) for p, cs in tok)

    scorer.featurize(items[:4], "cloze")  # warm-up (allocator, thread pool)
    rows = []

    def timed(mode: str, batch_size: int, subset) -> None:
        scorer.mode = mode
        start = time.perf_counter()
        scorer.featurize(subset, "cloze", batch_size=batch_size)
        sec = time.perf_counter() - start
        rows.append((mode, batch_size, len(subset), sec, len(subset) / sec, scored_tokens(subset) / sec))
        print(f"{mode:7s} batch {batch_size:3d}: {len(subset)} q in {sec:7.1f} s = {rows[-1][4]:.2f} q/s, "
              f"{rows[-1][5]:.0f} scored tok/s", flush=True)

    naive_items = items[: args.naive_limit] if args.naive_limit else items
    timed("naive", 1, naive_items)
    for bs in (int(b) for b in args.batch_sizes.split(",")):
        timed("shared", bs, items)
    naive_qps = rows[0][4]
    best = max(rows[1:], key=lambda r: r[4])

    lines = [
        f"Date {date.today().isoformat()}; {available_cpus()} CPUs usable (nproc), CPU model: {cpu_model()}; "
        f"load average at the end: {load_average()}. Model: SmolLM2-135M-Instruct (GGUF Q4_1 dequantised, fp32), "
        f"loaded in {load_s:.1f} s. Data: {args.data}, {len(items)} questions, cloze, d_h=64, calibration included.",
        "",
        "Target: prefix-shared >= 3x the naive loop. Reproduce: `.venv/bin/python bench/scorer_speed.py` "
        "(a load average above ~1 at the end means other work shared the CPU).",
        "",
        "| mode | batch (questions; naive: sequences) | questions | seconds | questions/s | scored tokens/s | vs naive |",
        "|---|---|---|---|---|---|---|",
    ]
    for mode, bs, n, sec, qps, tps in rows:
        lines.append(f"| {mode} | {bs} | {n} | {sec:.1f} | {qps:.2f} | {tps:.0f} | {qps / naive_qps:.2f}x |")
    lines += [
        "",
        f"Best prefix-shared setting: batch {best[1]}, {best[4] / naive_qps:.2f}x the naive loop's questions/s "
        "(scored tokens/s: Σ over options of prompt + option tokens, the same numerator for both modes).",
    ]
    body = "\n".join(lines)
    print(body)
    if not args.no_write:
        write_section(Path(args.out), body)
        print(f"wrote section '{SECTION}' of {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
