"""`stackray run CONFIG.yaml [--resume RUN_DIR]`: play a config's strategies on Ray and print the table.

Thin over `stackray.run.run_active` (jobs/run_active.py is the same for `ray job submit`). Ray is
embedded (a local instance started here) unless RAY_ADDRESS or the config's ray.address names a cluster.

Interrupts: Ctrl-C or SIGTERM at any moment (a human-oracle wait included) ends the run within
seconds with one line saying how many labels are paid and how to resume; the embedded Ray is shut
down first, so no Ray process outlives the command. Nothing is lost: every paid label is already in
the ledger and `--resume` replays the run exactly.
"""

from __future__ import annotations

import argparse
import warnings
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
    from stackray.errors import as_interrupted
    from stackray.run import load_config, new_run_dir

    if args.config is None and args.resume is None:
        raise ValueError("give a CONFIG.yaml, or --resume RUN_DIR")
    config = load_config(args.config) if args.config is not None else None
    # Named here (not inside run_active) so that an interrupt can say which directory to resume.
    run_dir = args.resume or args.run_dir or new_run_dir(config)
    try:
        summary = _play(args, config, run_dir)
    except KeyboardInterrupt as exc:  # Ray is shut down by now: the ledgers are final
        raise as_interrupted(exc, interrupted_message(run_dir)) from None
    print(summary["table"])
    print(f"run directory: {summary['run_dir']}")
    if summary.get("curve"):
        print(f"learning curve: {summary['curve']}")
    return 0


def _play(args: argparse.Namespace, config, run_dir: Path) -> dict:
    """run_active with our signal handlers (init_ray keeps them over Ray's), and an embedded Ray shut down
    here however the run ends. Ray starts inside run_active, after the run directory's checks, so a
    damaged ledger or a locked run is refused before Ray starts."""
    import ray

    from stackray.errors import install_signal_handlers
    from stackray.run import run_active

    started = not ray.is_initialized()
    install_signal_handlers()
    try:
        return run_active(config, run_dir=args.run_dir or (None if args.resume else run_dir), resume=args.resume,
                          progress=False if args.no_progress else None)
    finally:
        if started and ray.is_initialized():
            ray.shutdown()


def interrupted_message(run_dir: Path) -> str:
    """The one line an interrupted run ends with: labels paid so far and how to go on."""
    from stackray.budget import LEDGER_FILE, read_ledger
    from stackray.run.driver import CONFIG_FILE

    if not (run_dir / CONFIG_FILE).is_file():
        return "interrupted before the run started; nothing was recorded"
    paid = 0
    with warnings.catch_warnings():  # a torn last line is the resumed run's to repair and report
        warnings.simplefilter("ignore")
        for ledger in sorted(run_dir.rglob(LEDGER_FILE)):  # strategy folders, and each order's with data.orders
            try:
                paid += len(read_ledger(ledger)) if ledger.is_file() else 0
            except (ValueError, OSError):  # a broken ledger is reported when the run is resumed
                pass
    return f"interrupted after {paid} labels; resume with: stackray run --resume {run_dir}"
