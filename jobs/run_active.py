"""Ray job entry point: play a run config's strategies on the cluster this job was submitted to.

    ray job submit --working-dir . -- python jobs/run_active.py configs/smoke.yaml --run-dir runs/smoke
    python jobs/run_active.py configs/smoke.yaml                  # no cluster: an embedded local Ray
    python jobs/run_active.py --resume runs/smoke                 # continue a killed run

Under `ray job submit`, RAY_ADDRESS is set and the driver connects to the cluster; otherwise it starts
an embedded Ray. The same code as `stackray run` (stackray.commands.run).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository, when run from a working dir

from stackray.commands.run import add_arguments, run  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="run_active.py", description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except (ValueError, FileNotFoundError) as exc:
        print(f"run_active.py: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
