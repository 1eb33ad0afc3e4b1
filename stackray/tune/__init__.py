"""Budget sweeps: which beta, c, tau, lam ... buy the most validation accuracy per label, on Ray Tune.

    stackray tune configs/tune_openbookqa.yaml         # a sweep directory with trials, the front, best configs
    stackray tune --resume SWEEPS/obqa-...             # finish an interrupted sweep

Modules: config (the sweep file), tasks (cached features of each task, split into stream / validation /
test), trial (one trial: the game over seeded pool orders, pure numpy), space (the search space for
Tune), front (the exact Pareto front), report (the sweep directory's files), sweep (the Tuner).
"""

from stackray.tune.config import SweepConfig, load_sweep, sweep_from_dict

__all__ = ["SweepConfig", "load_sweep", "sweep_from_dict"]
