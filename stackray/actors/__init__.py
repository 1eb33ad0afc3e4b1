"""The game's roles as plain classes that run inside Ray actors, one file per role, and their driver-side proxies.

- `LeaderActor` (leader.py): theta, A, A^-1 and version; `LeaderProxy` is what `Game` calls.
- `FollowerActor` (follower.py): best responses, margins and widths of a window shard; `FollowerPool`
  spreads a window over N of them.
- `ScorerActor` (scorer.py): one model replica featurising whole chunks of items through the cache.
- `TrainerActor` (trainer.py): LoRA phases on the paid labels, each adapter written into the run directory.
- `BudgetCoordinator` (budget_coordinator.py): gate + ledger + oracle, the only door to labels;
  `CoordinatorGate` is what `Game` calls.

The classes carry no Ray decoration, so they can be built and called in-process (the tests do). The
role table in stackray.run.roles turns them into actors, with each role's resources, restart policy
and placement. The proxies satisfy the Protocols of stackray.game.roles; the order of play they
serve is in docs/game.md. Importing this package imports Ray but not torch (the scorer loads its
model inside the actor).
"""

from stackray.actors.budget_coordinator import (BudgetCoordinator, CoordinatorGate, GoldOracleSpec, HumanOracleSpec, OracleSpec,
                                                SelectRequest)
from stackray.actors.follower import FollowerActor, FollowerPool
from stackray.actors.leader import LeaderActor, LeaderProxy, RemoteSnapshot, StaleLeaderError
from stackray.actors.scorer import ScorerActor, ScorerSpec
from stackray.actors.trainer import TrainerActor

__all__ = ["BudgetCoordinator", "CoordinatorGate", "FollowerActor", "FollowerPool", "GoldOracleSpec", "HumanOracleSpec",
           "LeaderActor", "LeaderProxy", "OracleSpec", "RemoteSnapshot", "ScorerActor", "ScorerSpec", "SelectRequest",
           "StaleLeaderError", "TrainerActor"]
