"""The sweep driver: features once, trials under Ray Tune, then the sweep directory's reports.

Order: the sweep file is checked and its data loaded before Ray starts (a bad key costs a second and
leaves nothing behind); the sweep directory gets `sweep.yaml` (every key, paths absolute: what
`--resume` replays); Ray starts; every task is featurised once (cache hits read from disk); the base
game's references (zero-shot, `full`) are played; then `tune.Tuner` runs the trials with
`reuse_actors=True` and its experiment stored under the sweep directory (an absolute path, as Tune
requires). The arrays reach the trials through `tune.with_parameters` (one object-store copy), and
each trial checks that no LM backend was ever loaded in its process.

Resume: `Tuner.restore` (with the same trainable, as Tune requires) re-queues what had not finished and
keeps what had. Tune saves its state only every few seconds, so the driver also journals every finished
trial, fsynced (stackray.tune.journal): a trial Tune's state missed is reported from the journal, not
played again, and a trial in flight at the kill is played once more (it had reported nothing).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

from ray import tune
from ray.tune import Callback
from ray.tune.logger import JsonLoggerCallback

from stackray.errors import Interrupted
from stackray.game import GameConfig
from stackray.run.config_io import settle_config
from stackray.tune import report
from stackray.tune.config import SweepConfig, load_sweep
from stackray.tune.journal import TrialJournal, metrics_of, params_key
from stackray.tune.report import METRIC_COLUMNS
from stackray.tune.space import param_space, search, trial_count
from stackray.tune.tasks import featurise, load_task_items
from stackray.tune.trial import references, run_trial

SWEEP_FILE = "sweep.yaml"
EXPERIMENT = "tune"  # Tune's experiment folder inside the sweep directory
def lm_loads() -> int:
    """Language-model loads so far in this process (0 when no scorer module was ever imported)."""
    base = sys.modules.get("stackray.scoring.base")
    return getattr(base, "MODEL_LOADS", 0) if base is not None else 0


def assert_no_lm(before: int) -> None:
    """A trial plays on cached arrays only: no LM may be loaded while it runs. (A reused Ray worker may have
    scored features for an earlier task; what matters is that this trial loads no model.)"""
    if lm_loads() != before:
        raise RuntimeError("a sweep trial loaded a language model: trials must not run the LM")


def tune_trial(params: dict, *, finished: dict[str, dict], **kw: Any) -> None:
    """Tune's trainable: one config over every task and seed, one report at the end. A config the journal
    already holds (a resumed sweep whose Tune state missed it) is reported from there, not played again."""
    done = finished.get(params_key(params))
    if done is not None:
        tune.report({**done, "replayed": 1})
        return
    before = lm_loads()
    result = run_trial(params, **kw)
    assert_no_lm(before)
    tune.report({**result, "replayed": 0})


# What progress lines and journal records go to, in this driver process; set by run_sweep. Module state
# and not the callback's, because Tune pickles its callbacks into the experiment state and a resume
# (maybe in another process) revives them: they must hold nothing of the driver that created them.
_driver: dict[str, Any] = {"say": print, "journal": None}


class ProgressLine(Callback):
    """Journals each finished trial, then prints one line for it, counted over the whole sweep."""

    def __init__(self, total: int) -> None:
        self.total = total

    def on_trial_complete(self, iteration: int, trials: list, trial, **info: Any) -> None:
        m = trial.last_result or {}
        if _driver["journal"] is not None and "objective" in m:
            _driver["journal"].record(trial.trial_id, trial.config, metrics_of(m, METRIC_COLUMNS))
        done = 1 + sum(t.status == "TERMINATED" for t in trials if t is not trial)
        knobs = ", ".join(f"{k}={_short(v)}" for k, v in sorted(trial.config.items()))
        _driver["say"](f"[{done}/{self.total}] {trial.trial_id} {knobs}: labels {m.get('labels_used', float('nan')):.1f}, "
                       f"val acc {m.get('val_accuracy', float('nan')):.3f}, objective {m.get('objective', float('nan')):.3f}"
                       + (" (from the journal)" if m.get("replayed") else ""))


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def new_sweep_dir(config: SweepConfig, root: str | Path = "sweeps") -> Path:
    return Path(root) / f"{config.name}-{time.strftime('%Y%m%d-%H%M%S')}"


def _open_dir(config: SweepConfig | None, sweep_dir: Path, resume: bool) -> SweepConfig:
    return settle_config(sweep_dir, SWEEP_FILE, load_sweep, config, resume, what="sweep", command="stackray tune",
                         header="the sweep of this directory")


def _base_game(config: SweepConfig, dim: int) -> GameConfig:
    base = GameConfig(**config.game.model_dump())
    if not 0 <= base.prior_index < dim:
        raise ValueError(f"{config.source}: game.prior_index {base.prior_index} is not a feature column (d = {dim})")
    return base


def _tuner(config: SweepConfig, sweep_dir: Path, trainable: Any, resume: bool, say: Callable[[str], None]):
    path = sweep_dir / EXPERIMENT
    # Tune's default loggers (CSV, JSON and TensorBoard files per trial) cost more than a trial here (0.5-1.9 s
    # per result, measured on a loaded 2-core machine). Only the JSON one is kept: the ResultGrid reads it back.
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    if resume and tune.Tuner.can_restore(str(path)):
        say(f"resuming the sweep in {path}")
        return tune.Tuner.restore(str(path), trainable, resume_errored=True, param_space=param_space(config))
    alg, samples = search(config)
    return tune.Tuner(
        trainable, param_space=param_space(config),
        tune_config=tune.TuneConfig(search_alg=alg, num_samples=samples, reuse_actors=True,
                                    max_concurrent_trials=config.search.max_concurrent),
        run_config=tune.RunConfig(name=EXPERIMENT, storage_path=str(sweep_dir), verbose=0,
                                  callbacks=[JsonLoggerCallback(), ProgressLine(trial_count(config))]))


def run_sweep(config: SweepConfig | str | Path | None, sweep_dir: str | Path | None = None, *,
              resume: bool = False, say: Callable[[str], None] = print) -> dict:
    """A new sweep into `sweep_dir` (default sweeps/<name>-<time>), or `resume` the one there. Returns the
    summary (summary.json's content and `seconds`: wall time of features, references, trials, report)."""
    if config is not None and not isinstance(config, SweepConfig):
        config = load_sweep(config)
    if sweep_dir is None:
        sweep_dir = new_sweep_dir(config)  # type: ignore[arg-type]
    sweep_dir = Path(sweep_dir).expanduser().resolve()  # Tune wants an absolute storage path
    if resume:
        config = _open_dir(config, sweep_dir, resume)
        items = load_task_items(config)
    else:  # data errors before the sweep directory is made and before Ray starts
        if config is None:
            raise ValueError("a new sweep needs a SWEEP.yaml (or --resume SWEEP_DIR)")
        items = load_task_items(config)
        config = _open_dir(config, sweep_dir, resume)
    journal = TrialJournal(sweep_dir)  # locked before Ray starts: one driver per sweep directory
    try:
        return _sweep(config, sweep_dir, items, journal, resume, say)
    finally:
        journal.close()


def _sweep(config: SweepConfig, sweep_dir: Path, items: list, journal: TrialJournal, resume: bool,
           say: Callable[[str], None]) -> dict:
    from stackray.run import init_ray

    clock = [time.perf_counter()]
    seconds: dict[str, float] = {}

    def lap(name: str) -> None:
        clock.append(time.perf_counter())
        seconds[name] = round(clock[-1] - clock[-2], 3)

    init_ray(config.ray)
    tasks, names = featurise(config, items)
    lap("features")
    base = _base_game(config, len(names))
    refs = references(base, tasks, config.seeds)
    lap("references")
    kw = dict(base=base, tasks=tasks, refs=refs, seeds=config.seeds, level=config.serve.level,
              metric=config.objective.metric, aggregate=config.objective.tasks, finished=journal.finished())
    trainable = tune.with_resources(tune.with_parameters(tune_trial, **kw), {"cpu": config.search.trial_cpus})
    _driver.update(say=say, journal=journal)
    try:
        grid = _tuner(config, sweep_dir, trainable, resume, say).fit()
    finally:
        _driver.update(say=print, journal=None)
    lap("trials")
    rows = report.trial_rows(grid, list(config.space))
    expected = trial_count(config)
    if grid.num_errors:
        raise RuntimeError(f"{grid.num_errors} trials failed; first: {grid.errors[0]}; "
                           f"resume with: stackray tune --resume {sweep_dir}")
    if len(rows) < expected:
        raise Interrupted(message=f"interrupted after {len(rows)} of {expected} trials; "
                          f"resume with: stackray tune --resume {sweep_dir}")
    summary = report.write_all(sweep_dir, config, rows, tasks, base, refs, names, say)
    lap("report")
    return {**summary, "seconds": seconds}


__all__ = ["run_sweep", "new_sweep_dir", "tune_trial", "assert_no_lm", "lm_loads"]
