"""Rounds/s of `play` at d = 600, K = 4, window 256 on ONE core, beside the roofline.

Run:  .venv/bin/python bench/game_speed.py        (writes the `## Game speed` section of docs/benchmarks.md)

Roofline: the rounds/s one core would reach if a window's unavoidable work ran at the speed of a
plain matrix product of the same shapes, timed in this same process:
  - every strategy: the confidence widths ||phi(y) - phi(y_hat)||_{A^-1} of all W*K candidates,
    one [W K, d] x [d, d] product;
  - `full` also: the rank-m update of A^-1 by the window's m supervised pairs, one [d, m] x [m, d]
    product (m = the pairs the run actually learned from, per window).
"""

from __future__ import annotations

import os

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"  # one core, before numpy loads its BLAS

import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import machine_line, write_section  # noqa: E402

from stackray.game import GameConfig, play  # noqa: E402

D, K, W = 600, 4, 256


def best_time(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def matmul_seconds(m: int, k: int, n: int) -> float:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(m, k)), rng.normal(size=(k, n))
    return best_time(lambda: a @ b, repeat=7)


def main() -> None:
    rng = np.random.default_rng(0)
    rows = []
    width_s = matmul_seconds(W * K, D, D)
    gflops = 2 * W * K * D * D / width_s / 1e9
    for strategy, T in (("llf", 8192), ("full", 4096)):
        phi = rng.normal(size=(T, K, D)) / np.sqrt(D)
        gold = rng.integers(0, K, size=T)
        cfg = GameConfig(strategy=strategy, beta=0.1, window=W)
        play(phi[: 2 * W], lambda t: int(gold[t]), cfg)  # warm-up
        start = time.perf_counter()
        result = play(phi, lambda t: int(gold[t]), cfg)
        seconds = time.perf_counter() - start
        windows = T // W
        roof_s = width_s
        pairs_per_window = result.pairs / windows
        if strategy == "full":
            m = max(1, round(pairs_per_window))
            roof_s += matmul_seconds(D, m, D)
        rate, roof = T / seconds, W / roof_s
        rows.append((strategy, T, rate, roof, rate / roof, pairs_per_window))
        print(f"{strategy}: {rate:,.0f} rounds/s, roofline {roof:,.0f} rounds/s, ratio {rate / roof:.2f}")

    lines = [
        f"One core (BLAS threads = 1), d = {D}, K = {K}, window = {W}, float64; "
        f"plain matmul speed in this run: {gflops:.1f} GFLOP/s. {machine_line()}",
        "",
        "| strategy | rounds | rounds/s | roofline rounds/s | ratio | pairs/window |",
        "|---|---|---|---|---|---|",
    ]
    lines += [f"| {s} | {T} | {r:,.0f} | {roof:,.0f} | {ratio:.2f} | {p:.0f} |" for s, T, r, roof, ratio, p in rows]
    lines += ["", "Target: ratio >= 0.5 for both. Reproduce: `.venv/bin/python bench/game_speed.py`."]
    write_section("Game speed", "\n".join(lines))


if __name__ == "__main__":
    main()
