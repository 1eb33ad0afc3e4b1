"""A sweep driver that SIGKILLs itself: `python killable_sweep.py SWEEP.yaml SWEEP_DIR KILL_AFTER`.

It runs the sweep through the library entry point (as `stackray tune` does) and kills itself with SIGKILL
from inside Tune's progress callback when KILL_AFTER trials have finished: Tune holds that trial's result
in memory, and the driver gets no chance to save anything.
"""

import os
import signal
import sys

from stackray.tune.sweep import run_sweep


def main() -> None:
    sweep, sweep_dir, kill_after = sys.argv[1], sys.argv[2], int(sys.argv[3])

    def say(line: str) -> None:
        print(line, flush=True)
        if line.startswith(f"[{kill_after}/"):
            os.kill(os.getpid(), signal.SIGKILL)

    run_sweep(sweep, sweep_dir, say=say)


if __name__ == "__main__":
    main()
