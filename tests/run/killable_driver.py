"""A run driver that SIGKILLs itself: `python killable_driver.py CONFIG RUN_DIR KILL_AT [WHERE]`.

It plays CONFIG into RUN_DIR through the library entry point (the same as jobs/run_active.py) and kills
itself with SIGKILL in window KILL_AT, at WHERE:
- "stepped" (the default): right after the window has been played and its labels paid, before that
  window's checkpoint: the ledger is ahead of the newest checkpoint;
- "checkpoint": in the middle of the window's checkpoint write, after its arrays file is on disk and
  before its JSON (and LATEST): a half-written checkpoint the resume must ignore.
RUN_DIR may already hold a run (then it is resumed) and CONFIG may be "-" (the stored config).
"""

import os
import signal
import sys
from pathlib import Path

from stackray.run import layout, run_active


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    config, run_dir, kill_at = sys.argv[1], sys.argv[2], int(sys.argv[3])
    where = sys.argv[4] if len(sys.argv) > 4 else "stepped"
    if where not in ("stepped", "checkpoint"):
        raise SystemExit(f"WHERE must be stepped or checkpoint, not {where!r}")

    def hook(stage: str, window: int) -> None:
        if where == "stepped" and stage == "stepped" and window == kill_at:
            _die()

    if where == "checkpoint":  # save_checkpoint writes the arrays, then the JSON through this function
        write_text = layout.atomic_write_text

        def killing_write_text(path, text, *args, **kwargs):
            if Path(path).name == f"ckpt-{kill_at:06d}.json":
                _die()
            return write_text(path, text, *args, **kwargs)

        layout.atomic_write_text = killing_write_text

    resume = run_dir if (Path(run_dir) / "config.yaml").is_file() else None
    run_active(None if config == "-" else config, run_dir=None if resume else run_dir, resume=resume,
               progress=False, on_window=hook)


if __name__ == "__main__":
    main()
