"""The CLI's subcommands, one module each (registered in stackray.cli.COMMANDS), and `job_main`, which
turns one of them into a `ray job submit` entry point (jobs/)."""

from __future__ import annotations

import argparse
import importlib


def job_main(prog: str, description: str, command: str, argv: list[str] | None = None) -> int:
    """Parse `argv` with the arguments of stackray.commands.<command> and run it as the CLI would: a user
    error is one line (exit 2), an interrupt says how to resume (130 / 143), --debug shows tracebacks."""
    from stackray.errors import DEBUG_HELP, run_guarded

    module = importlib.import_module(f"stackray.commands.{command}")
    parser = argparse.ArgumentParser(prog=prog, description=description)
    module.add_arguments(parser)
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    args = parser.parse_args(argv)
    return run_guarded(prog, lambda: module.run(args), debug=args.debug)
