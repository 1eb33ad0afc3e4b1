"""`stackray label RUN_DIR`: answer a run's pending label requests in the terminal.

Why a terminal loop over files: the annotator needs no server, no account and no Ray, only access to
the run directory; every answer is appended to answers.jsonl (locked, fsynced) the moment it is given,
so quitting or crashing halfway loses nothing. The run (a `FileQueueOracle`) picks the answers up.
"""

from __future__ import annotations

import argparse
import string
import sys
import time
from pathlib import Path
from typing import TextIO

from stackray.budget.oracles import AlreadyAnsweredError, LabelRequest, append_answer, pending_requests

LETTERS = string.ascii_uppercase


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "label",
        help="answer a run's pending label requests in the terminal",
        description="Show each pending question of RUN_DIR with lettered options and record the letter you type "
        "(s = skip, q = quit).",
    )
    p.add_argument("run_dir", type=Path, help="the run directory (holds requests.jsonl and answers.jsonl)")
    p.add_argument("--watch", action="store_true", help="keep waiting for new requests instead of exiting")
    p.add_argument("--poll", type=float, default=1.0, help="seconds between checks for new requests with --watch")
    p.set_defaults(func=run)


def parse_choice(text: str, num_options: int) -> int | None:
    """The 0-based option of a typed letter (case-insensitive), or None when it is not one of the options."""
    text = text.strip().upper()
    if len(text) == 1 and text in LETTERS[:num_options]:
        return LETTERS.index(text)
    return None


def show(req: LabelRequest, out: TextIO) -> None:
    print(f"\nround {req.round}  item {req.item}", file=out)
    print(req.question, file=out)
    for j, option in enumerate(req.options):
        print(f"  {LETTERS[j]}) {option}", file=out)


def ask(req: LabelRequest, inp: TextIO, out: TextIO) -> int | str:
    """The chosen option index, or "skip" / "quit" (quit also at the end of input)."""
    last = LETTERS[len(req.options) - 1]
    while True:
        print(f"answer [A-{last}], s = skip, q = quit: ", end="", file=out, flush=True)
        line = inp.readline()
        if not line:
            print(file=out)
            return "quit"
        word = line.strip().lower()
        if word in ("q", "quit"):
            return "quit"
        if word in ("s", "skip"):
            return "skip"
        choice = parse_choice(line, len(req.options))
        if choice is not None:
            return choice
        print(f"'{line.strip()}' is not one of A-{last}", file=out)


def run(args: argparse.Namespace, inp: TextIO | None = None, out: TextIO | None = None) -> int:
    inp = sys.stdin if inp is None else inp
    out = sys.stdout if out is None else out
    if args.poll <= 0:
        raise ValueError(f"--poll must be > 0 seconds, got {args.poll}")
    if not refuse_a_damaged_run(args.run_dir, out):
        return 1
    skipped: set[int] = set()
    try:
        _loop(args, inp, out, skipped)
    except KeyboardInterrupt:  # the way out of --watch; every answer given is already on disk
        print(file=out)
    left = len(pending_requests(args.run_dir))
    print(f"{left} pending in {args.run_dir}", file=out)
    return 0


def refuse_a_damaged_run(run_dir: Path, out: TextIO) -> bool:
    """The checks of `stackray verify`: an annotator's answers to a run whose ledger was cut or edited
    would be spent on a run that cannot resume, so label only when nothing is wrong (notes are shown)."""
    from stackray.commands.verify import report
    from stackray.run.integrity import verify_run

    findings = verify_run(run_dir)
    report(findings, out)
    if findings.problems:
        print(f"{run_dir}: not labelling; fix the problems above first (stackray verify {run_dir})", file=out)
    return not findings.problems


def _loop(args: argparse.Namespace, inp: TextIO, out: TextIO, skipped: set[int]) -> None:
    """Answer pending requests one by one until none is left (or, with --watch, until quit)."""
    while True:
        todo = [r for r in pending_requests(args.run_dir) if r.round not in skipped]
        if not todo:
            if not args.watch:
                return
            time.sleep(args.poll)
            continue
        req = todo[0]
        if len(req.options) > len(LETTERS):
            raise ValueError(f"round {req.round}: {len(req.options)} options are more than the letters A-Z")
        show(req, out)
        choice = ask(req, inp, out)
        if choice == "quit":
            return
        if choice == "skip":
            skipped.add(req.round)
            continue
        try:
            append_answer(args.run_dir, req.round, int(choice))
        except AlreadyAnsweredError:
            print(f"round {req.round} was answered by someone else meanwhile; yours is not recorded", file=out)
            continue
        print(f"recorded {LETTERS[int(choice)]} for round {req.round}", file=out)
