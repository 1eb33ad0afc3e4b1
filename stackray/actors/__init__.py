"""The game's roles as Ray actors, one file per role (DESIGN section 6).

- `LeaderActor` (leader.py): theta, A, A^-1, version; `LeaderProxy` is what `Game` calls.
- `FollowerActor` (follower.py): best responses, margins, widths of a window shard; `FollowerPool`
  spreads a window over N of them.
- `ScorerActor` (scorer.py): one model replica featurising whole chunks of items through the cache.
- `BudgetCoordinator` (budget_coordinator.py): gate + ledger + oracle, the only door to labels;
  `CoordinatorGate` is what `Game` calls.

Importing this package imports Ray but not torch (the scorer loads its model inside the actor).
"""

from stackray.actors.budget_coordinator import BudgetCoordinator, CoordinatorGate
from stackray.actors.follower import FollowerActor, FollowerPool
from stackray.actors.leader import LeaderActor, LeaderProxy, StaleLeaderError
from stackray.actors.scorer import ScorerActor, scorer_actor

__all__ = ["BudgetCoordinator", "CoordinatorGate", "FollowerActor", "FollowerPool", "LeaderActor", "LeaderProxy",
           "ScorerActor", "StaleLeaderError", "scorer_actor"]
