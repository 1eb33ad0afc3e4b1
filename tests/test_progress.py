"""stackray.progress: a bar redraws as usual on a terminal and rarely into a log."""

from __future__ import annotations

import io

from stackray.progress import LOG_INTERVAL_S, progress_bar


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_log_gets_the_first_and_final_state_not_every_update():
    log = io.StringIO()
    bar = progress_bar(total=500, file=log)
    assert bar.mininterval == LOG_INTERVAL_S
    for _ in range(500):
        bar.update(1)
    bar.close()
    redraws = log.getvalue().count("\r")
    assert "500/500" in log.getvalue() and redraws <= 3, redraws


def test_a_terminal_keeps_tqdms_own_interval():
    bar = progress_bar(total=10, file=_Terminal())
    assert bar.mininterval < 1.0
    bar.close()
