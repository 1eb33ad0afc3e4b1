"""Progress bars that suit where the output goes.

Why: tqdm redraws a bar several times a second with carriage returns. On a terminal that is one line; in a
log file (`ray job submit`, CI, `make demo > log`) every redraw is kept, and a three-order demo wrote
hundreds of kilobytes of bars. Where stderr is not a terminal, a bar here redraws at most every
`LOG_INTERVAL_S` seconds, plus its final state.
"""

from __future__ import annotations

import sys
from typing import Any

LOG_INTERVAL_S = 30.0


def progress_bar(**kwargs: Any):
    """`tqdm.auto.tqdm(**kwargs)`, redrawn at most every LOG_INTERVAL_S when stderr is not a terminal."""
    from tqdm.auto import tqdm

    if not _is_terminal(kwargs.get("file", sys.stderr)):
        kwargs.setdefault("mininterval", LOG_INTERVAL_S)
        kwargs.setdefault("maxinterval", LOG_INTERVAL_S)
    return tqdm(**kwargs)


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False
