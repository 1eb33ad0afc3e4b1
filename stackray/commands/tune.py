"""`stackray tune SWEEP.yaml [--sweep-dir DIR] | --resume SWEEP_DIR`: a budget sweep on Ray Tune.

Thin over `stackray.tune.sweep.run_sweep` (jobs/tune_budget.py is the same for `ray job submit`). Ray is
embedded unless RAY_ADDRESS or the sweep's ray.address names a cluster, and is shut down here however
the sweep ends. Ctrl-C stops the sweep (Tune saves its state) and says how to resume it.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("sweep", nargs="?", type=Path, help="the sweep file (YAML); optional with --resume")
    p.add_argument("--resume", type=Path, metavar="SWEEP_DIR", help="finish an interrupted sweep")
    p.add_argument("--sweep-dir", type=Path, metavar="DIR", help="where a new sweep writes (default sweeps/<name>-<time>)")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("tune", help="sweep budgets and gate knobs on Ray Tune",
                              description="Run a sweep file's trials on cached features with Ray Tune; write "
                              "trials.csv/.md, the Pareto front (front.png), one runnable best_beta_<b>.yaml per "
                              "beta on the front, and their test accuracy.")
    add_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import ray

    from stackray.errors import Interrupted, as_interrupted, install_signal_handlers
    from stackray.tune.config import load_sweep
    from stackray.tune.sweep import SWEEP_FILE, new_sweep_dir, run_sweep

    if args.sweep is None and args.resume is None:
        raise ValueError("give a SWEEP.yaml, or --resume SWEEP_DIR")
    if args.resume is not None and args.sweep_dir is not None and args.resume != args.sweep_dir:
        raise ValueError(f"--sweep-dir {args.sweep_dir} and --resume {args.resume} name different sweep directories")
    config = load_sweep(args.sweep) if args.sweep is not None else None
    sweep_dir = args.resume or args.sweep_dir or new_sweep_dir(config)
    started = not ray.is_initialized()
    install_signal_handlers()
    try:
        run_sweep(config, sweep_dir, resume=args.resume is not None, say=lambda line: print(line, flush=True))
    except KeyboardInterrupt as exc:  # Ctrl-C inside Tune ends in run_sweep's own message; SIGTERM ends here
        if isinstance(exc, Interrupted) and "resume with" in exc.message:
            raise
        started_sweep = (Path(sweep_dir) / SWEEP_FILE).is_file()
        raise as_interrupted(exc, f"interrupted; resume with: stackray tune --resume {sweep_dir}" if started_sweep
                             else "interrupted before the sweep started; nothing was recorded") from None
    finally:
        if started and ray.is_initialized():
            ray.shutdown()
    return 0
