"""The role table: the one place where the plain classes of stackray.actors become Ray actors.

Every actor of a run is started by `start(role, ...)`, with the row's options:

| role        | class             | resources (default)      | calls rerun on a restarted actor | placement        |
|-------------|-------------------|--------------------------|----------------------------------|------------------|
| leader      | LeaderActor       | num_cpus=0               | no: LeaderProxy restores it      | anywhere         |
| follower    | FollowerActor     | num_cpus=0               | yes (stateless)                  | anywhere         |
| coordinator | BudgetCoordinator | num_cpus=0               | yes (the ledger answers repaid)  | driver's node    |
| scorer      | ScorerActor       | `scorer_resources(spec)` | yes (same items, same features)  | anywhere         |
| trainer     | TrainerActor      | `trainer_resources()`    | yes (a phase is deterministic)   | driver's node    |

Why: a restart policy is part of each role's correctness argument (stackray.actors explains each),
so it is written down once, next to the others, instead of at every call site. The game's roles
reserve no CPU (num_cpus=0): each is a light actor that mostly waits on the others, and a
reservation would hold CPUs the scorers need. The coordinator writes the ledger into the run
directory, so it runs on the driver's node (on a cluster the run directory lives there; see
docs/cluster.md); so does the trainer, which writes the adapter there.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from stackray.actors.budget_coordinator import BudgetCoordinator
from stackray.actors.follower import FollowerActor
from stackray.actors.leader import LeaderActor
from stackray.actors.scorer import ScorerActor, ScorerSpec
from stackray.actors.trainer import TrainerActor


@dataclass(frozen=True)
class Role:
    cls: type
    resources: dict = field(default_factory=lambda: {"num_cpus": 0})
    rerun_calls: bool = True  # max_task_retries = max_restarts; False: 0, the caller recovers itself
    on_driver_node: bool = False


ROLES: dict[str, Role] = {
    "leader": Role(LeaderActor, rerun_calls=False),
    "follower": Role(FollowerActor),
    "coordinator": Role(BudgetCoordinator, on_driver_node=True),
    "scorer": Role(ScorerActor, resources={}),
    "trainer": Role(TrainerActor, on_driver_node=True),
}


def start(role: str, *args, max_restarts: int, resources: dict | None = None):
    """Start one actor of `role` (constructor arguments `args`) with the table's options; its handle."""
    if role not in ROLES:
        raise ValueError(f"unknown actor role {role!r}; expected one of {', '.join(ROLES)}")
    row = ROLES[role]
    options = dict(row.resources if resources is None else resources)
    options.update(max_restarts=max_restarts, max_task_retries=max_restarts if row.rerun_calls else 0)
    if row.on_driver_node:
        here = ray.get_runtime_context().get_node_id()
        options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(here, soft=False)
    return _actor_class(role).options(**options).remote(*args)


def scorer_resources(spec: ScorerSpec) -> dict:
    """One GPU for a vLLM replica; `threads` CPUs for a transformers one."""
    if spec.backend == "vllm":
        return {"num_gpus": 1, "num_cpus": 1}
    return {"num_cpus": spec.threads or 1}


def trainer_resources() -> dict:
    """One GPU when the cluster has one; else no reservation (it trains while the scorers wait)."""
    return {"num_gpus": 1, "num_cpus": 0} if ray.cluster_resources().get("GPU", 0) >= 1 else {"num_cpus": 0}


@functools.cache
def _actor_class(role: str):
    return ray.remote(ROLES[role].cls)
