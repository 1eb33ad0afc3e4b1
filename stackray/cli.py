"""The `stackray` command line: one subcommand per module in stackray/commands/.

Each command module exposes `add_parser(subparsers)` which registers its parser and sets
`func` to a callable taking the parsed args and returning an exit code. Modules are imported
lazily per subcommand so that `stackray simulate` never pays for importing torch or Ray.

Every command runs inside one wrapper (`stackray.errors.run_guarded`): a user error is one line and
exit code 2, Ctrl-C / SIGTERM exit 130 / 143, and `--debug` (before or after the command) adds the
full traceback for developers.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from stackray.errors import DEBUG_HELP, run_guarded

# (subcommand, module under stackray.commands, one-line help)
COMMANDS = [
    ("simulate", "simulate", "play every strategy on a synthetic linear environment"),
    ("featurize", "featurize", "fill the on-disk feature cache for a data set"),
    ("run", "run", "run an active-learning job on Ray from a YAML config"),
    ("label", "label", "answer a run's pending label requests in the terminal"),
    ("tune", "tune", "sweep budgets and gate knobs on Ray Tune"),
    ("verify", "verify", "check a run directory's ledgers, checkpoints and summary"),
    ("serve", "serve", "serve finished runs over HTTP (OpenAI-compatible and /v1/score)"),
]


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stackray", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    wanted = next((a for a in argv if not a.startswith("-")), None)
    for name, module, help_text in COMMANDS:
        if wanted is not None and name != wanted:
            # Only the chosen subcommand is imported; the rest get a placeholder for --help listings.
            sub.add_parser(name, help=help_text)
            continue
        # A command module that fails to import is a broken install, not a command to hide: let it raise.
        importlib.import_module(f"stackray.commands.{module}").add_parser(sub)
    for command_parser in sub.choices.values():  # `stackray run X --debug` works as well as `stackray --debug run X`
        command_parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0 if not argv else 2
    return run_guarded(f"stackray {args.command}", lambda: args.func(args), debug=args.debug)


if __name__ == "__main__":
    sys.exit(main())
