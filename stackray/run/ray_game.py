"""One strategy's game with its roles in Ray actors: the game core's `Game`, given actor-backed parts.

`Game` (stackray.game.play) stays the one implementation of the round's order of play; here it gets
a `LeaderProxy` (LeaderActor), a `CoordinatorGate` (BudgetCoordinator: gate + ledger + oracle) and a
`FollowerPool` (FollowerActors) instead of in-process objects. Per window that is a handful of actor
calls (commit, one assess per follower shard, one select, one update), each carrying a whole window.

Placement: the BudgetCoordinator writes the ledger into the run directory, so it is pinned to the
driver's node (on a cluster the run directory lives there); leader and followers may go anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from stackray.actors.budget_coordinator import BudgetCoordinator, CoordinatorGate
from stackray.actors.follower import FollowerActor, FollowerPool
from stackray.actors.leader import LeaderActor, LeaderProxy
from stackray.data.items import MCItem
from stackray.errors import ray_get
from stackray.game import Game, GameConfig


@dataclass
class StrategyGame:
    """A strategy's Game and the actors behind it."""

    name: str
    config: GameConfig
    game: Game
    leader: LeaderProxy
    gate: CoordinatorGate
    coordinator: object  # BudgetCoordinator handle
    leader_actor: object
    folder: Path

    def step(self, phi: np.ndarray, mask: np.ndarray, features_of: Callable) -> np.ndarray:
        return self.game.step(phi, mask, self.gate.oracle, features_of)

    def close(self) -> None:
        """Release the ledger (and request queue) locks, then the actors."""
        try:
            ray_get(self.coordinator.close.remote(), timeout=2.0)  # busy in a human wait: kill it
        finally:
            ray.kill(self.coordinator)
            ray.kill(self.leader_actor)


def start_followers(config: GameConfig, n: int, max_restarts: int) -> list:
    opts = {"max_restarts": max_restarts, "max_task_retries": max_restarts}
    return [FollowerActor.options(**opts).remote(config.alpha, config.c, config.tau) for _ in range(n)]


def start_strategy(config: GameConfig, folder: Path, items: Sequence[MCItem], oracle: tuple, dim: int,
                   followers: list, max_restarts: int, costs=None) -> StrategyGame:
    """Start the LeaderActor and BudgetCoordinator of one strategy and wire a Game to them."""
    T = len(items)
    here = ray.get_runtime_context().get_node_id()
    coordinator = BudgetCoordinator.options(
        max_restarts=max_restarts, max_task_retries=max_restarts,
        scheduling_strategy=NodeAffinitySchedulingStrategy(here, soft=False),
    ).remote(config.to_dict(), str(folder), [it.id for it in items], oracle, costs)
    # The proxy restores a restarted leader itself (version check + redo log), so Ray must not
    # silently rerun a call on the fresh, empty leader.
    leader_actor = LeaderActor.options(max_restarts=max_restarts, max_task_retries=0).remote(
        dim, config.ridge(dim), config.prior_index)
    leader = LeaderProxy(leader_actor, dim, config.ridge(dim), config.prior_index)
    gate = CoordinatorGate(coordinator, config, T, costs)
    pool = FollowerPool(followers, snapshot_ref=leader.ref_for)
    game = Game(config, T, dim, costs, leader=leader, gate=gate, assess_window=pool)
    return StrategyGame(config.strategy, config, game, leader, gate, coordinator, leader_actor, folder)
