"""Ray job entry point: play a run config's strategies on the cluster this job was submitted to.

    ray job submit --working-dir . -- python jobs/run_active.py configs/smoke.yaml --run-dir runs/smoke
    python jobs/run_active.py configs/smoke.yaml                  # no cluster: an embedded local Ray
    python jobs/run_active.py --resume runs/smoke                 # continue a killed run

Under `ray job submit`, RAY_ADDRESS is set and the driver connects to the cluster; otherwise it starts
an embedded Ray. The same code as `stackray run` (stackray.commands.run), ending the same way: a user
error is one line (exit 2), an interrupt says how to resume (exit 130 / 143), --debug shows tracebacks.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository, when run from a working dir

from stackray.commands import job_main  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    return job_main("run_active.py", __doc__.splitlines()[0], "run", argv)


if __name__ == "__main__":
    sys.exit(main())
