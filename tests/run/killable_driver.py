"""A run driver that SIGKILLs itself: `python killable_driver.py CONFIG RUN_DIR KILL_AT`.

It plays CONFIG into RUN_DIR through the library entry point (the same as jobs/run_active.py) and kills
itself with SIGKILL right after window KILL_AT has been played and its labels paid, before that
window's checkpoint: the worst instant (the ledger is ahead of the newest checkpoint).
"""

import os
import signal
import sys

from stackray.run import run_active


def main() -> None:
    config, run_dir, kill_at = sys.argv[1], sys.argv[2], int(sys.argv[3])

    def hook(stage: str, window: int) -> None:
        if stage == "stepped" and window == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    run_active(config, run_dir=run_dir, progress=False, on_window=hook)


if __name__ == "__main__":
    main()
