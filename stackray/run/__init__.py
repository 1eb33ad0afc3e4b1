"""Run orchestration: a YAML config played on Ray, checkpointed, resumed and reported.

    from stackray.run import run_active, load_config
    summary = run_active("configs/smoke.yaml", run_dir="runs/smoke")      # a new run
    summary = run_active(None, resume="runs/smoke")                       # continue a killed one

Modules: config (the validated RunConfig), layout (run directory, atomic checkpoints), features
(cache + ScorerActor pool, pipelined), roles (the role table: every actor is started there), ray_game (a
strategy's Game on actors), served_head (never worse than the start), report (metrics, table, curve),
driver (the loop).
"""

from stackray.run.config import ConfigError, RunConfig, config_from_dict, load_config
from stackray.run.driver import ActiveRun, init_ray, new_run_dir, run_active

__all__ = ["ActiveRun", "ConfigError", "RunConfig", "config_from_dict", "init_ray", "load_config", "new_run_dir",
           "run_active"]
