"""`stackray verify RUN_DIR`: check a run directory offline and say what is wrong, one line per problem.

Why a command of its own: a ledger is money, and the moment to learn that it was cut or edited is
before resuming (or labelling) rather than after. It changes nothing and takes no lock, so it is safe
on a live run too. Exit 0 when all is well, 1 when something is wrong (2 for a bad argument).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("verify", help="check a run directory's ledgers, checkpoints and summary",
                              description=__doc__.split("\n\n")[0].split(": ", 1)[1])
    p.add_argument("run_dir", type=Path, help="the run directory (or one strategy's folder in it)")
    p.set_defaults(func=run)


def report(findings, out: TextIO) -> None:
    """Notes, then problems, one line each (shared with `stackray label`)."""
    for note in findings.notes:
        print(f"note: {note}", file=out)
    for problem in findings.problems:
        print(f"problem: {problem}", file=out)


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    from stackray.run.integrity import run_root, verify_run

    out = sys.stdout if out is None else out
    findings = verify_run(args.run_dir)
    if run_root(args.run_dir) is None and not findings.problems and not any(
            (args.run_dir / name).exists() for name in ("ledger.jsonl", "requests.jsonl")):
        findings.problems.append(f"{args.run_dir}: not a run directory (no config.yaml, ledger.jsonl or requests.jsonl)")
    report(findings, out)
    n = len(findings.problems)
    print(f"{args.run_dir}: " + ("ok" if n == 0 else f"{n} problem{'s' if n > 1 else ''}"), file=out)
    return 0 if n == 0 else 1
