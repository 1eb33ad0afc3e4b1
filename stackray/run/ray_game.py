"""One strategy's game with its roles in Ray actors: the game core's `Game`, given actor-backed parts.

`Game` (stackray.game.play) stays the one implementation of the round's order of play; here it gets
a `LeaderProxy` (LeaderActor), a `CoordinatorGate` (BudgetCoordinator: gate + ledger + oracle) and a
`FollowerPool` (FollowerActors, shared by every strategy of a run) instead of in-process objects;
each satisfies its Protocol in stackray.game.roles. The actors are started through the role table
(stackray.run.roles), which holds their resources, restart policy and placement.

Per window the driver waits on two calls: the window's assessment and the coordinator's `select`.
The leader's update from the paid labels is held back by the proxy and travels with the next call
to the leader: the state read of a checkpoint (`stackray run` makes one after every window), else
the next window's assessment when the leader's actor assesses it (a window one follower shard
suffices for). A window split over the FollowerActors gets the ObjectRef of the leader's commit
instead, sent after that update without waiting.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import ray

from stackray.actors.budget_coordinator import CoordinatorGate, OracleSpec
from stackray.actors.follower import FollowerPool
from stackray.actors.leader import LeaderProxy
from stackray.data.items import MCItem
from stackray.errors import ray_get
from stackray.game import Game, GameConfig
from stackray.run import roles


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


def start_followers(config: GameConfig, n: int, max_restarts: int) -> FollowerPool:
    """n FollowerActors (alpha, c and tau of `config`), shared by every strategy of a run."""
    return FollowerPool([roles.start("follower", config, max_restarts=max_restarts) for _ in range(n)])


def start_strategy(config: GameConfig, folder: Path, items: Sequence[MCItem], oracle: OracleSpec, dim: int,
                   followers: FollowerPool, max_restarts: int, costs=None) -> StrategyGame:
    """Start the LeaderActor and BudgetCoordinator of one strategy and wire a Game to them."""
    T = len(items)
    coordinator = roles.start("coordinator", config, str(folder), [it.id for it in items], oracle, costs,
                              max_restarts=max_restarts)
    # The leader hosts a follower: windows that need one shard are assessed where the snapshot already is.
    leader_actor = roles.start("leader", dim, config.ridge(dim), config.prior_index, config, max_restarts=max_restarts)
    leader = LeaderProxy(leader_actor, dim, config.ridge(dim), config.prior_index, hosts_follower=True)
    gate = CoordinatorGate(coordinator, config, T, costs)
    game = Game(config, T, dim, costs, leader=leader, gate=gate, assess_window=followers)
    return StrategyGame(config.strategy, config, game, leader, gate, coordinator, leader_actor, folder)
