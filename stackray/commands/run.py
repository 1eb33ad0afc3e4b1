"""`stackray run CONFIG.yaml [--resume RUN_DIR]`: play a config's strategies on Ray and print the table.

Thin over `stackray.run.run_active` (jobs/run_active.py is the same for `ray job submit`). Ray is
embedded (a local instance started here) unless RAY_ADDRESS or the config's ray.address names a cluster.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("run", help="run an active-learning job on Ray from a YAML config",
                              description="Play the strategies of CONFIG.yaml on Ray; write a run directory "
                              "(ledger, checkpoints, metrics, learning curve, summary) and print the summary table.")
    add_arguments(p)
    p.set_defaults(func=run)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", nargs="?", type=Path, help="the run config (YAML); optional with --resume")
    p.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue a run from its newest checkpoint")
    p.add_argument("--run-dir", type=Path, metavar="DIR", help="where a new run writes (default runs/<name>-<time>)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    import ray

    from stackray.budget import LabelTimeoutError
    from stackray.run import run_active

    if args.config is None and args.resume is None:
        raise ValueError("give a CONFIG.yaml, or --resume RUN_DIR")
    started = not ray.is_initialized()
    try:
        summary = run_active(args.config, run_dir=args.run_dir, resume=args.resume,
                             progress=False if args.no_progress else None)
    except LabelTimeoutError as exc:  # annotators were too slow: the run is checkpointed, not failed
        print(f"stackray run: {exc}", file=sys.stderr)
        return 3
    finally:
        if started and ray.is_initialized():
            ray.shutdown()
    print(summary["table"])
    print(f"run directory: {summary['run_dir']}")
    if summary.get("curve"):
        print(f"learning curve: {summary['curve']}")
    return 0
