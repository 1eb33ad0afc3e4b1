"""Ray job entry point: a budget sweep (`stackray tune`) on the cluster this job was submitted to.

    ray job submit --working-dir . -- python jobs/tune_budget.py configs/tune_openbookqa.yaml --sweep-dir /mnt/runs/obqa
    python jobs/tune_budget.py configs/tune_openbookqa.yaml          # no cluster: an embedded local Ray
    python jobs/tune_budget.py --resume /mnt/runs/obqa               # finish an interrupted sweep

Under `ray job submit`, RAY_ADDRESS is set and the driver connects to the cluster; otherwise it starts
an embedded Ray. The same code as `stackray tune` (stackray.commands.tune), ending the same way: a user
error is one line (exit 2), an interrupt says how to resume (exit 130 / 143), --debug shows tracebacks.
On several nodes the sweep directory must be on storage every node can write (see docs/cluster.md).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository, when run from a working dir

from stackray.commands import job_main  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    return job_main("tune_budget.py", __doc__.splitlines()[0], "tune", argv)


if __name__ == "__main__":
    sys.exit(main())
