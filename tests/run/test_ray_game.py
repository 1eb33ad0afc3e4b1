"""The game on actors is the game core: the same predictions, labels and theta as the in-process `play`,
also when the leader actor is killed mid-game (its pipelined update and commit are then redone)."""

import numpy as np
import pytest
import ray

from stackray.actors import GoldOracleSpec
from stackray.data import MCItem
from stackray.game import GameConfig, play
from stackray.game.synthetic import SyntheticTask
from stackray.run.ray_game import start_followers, start_strategy

pytestmark = pytest.mark.slow
T, W = 300, 32


@pytest.mark.parametrize("strategy, followers, kill_leader_at, checkpoints", [
    ("llf", 2, None, False), ("random", 1, None, False), ("llf", 1, 3, False),
    ("llf", 1, 3, True),  # as `stackray run` plays: the leader's state read after every window
])
def test_actor_game_equals_in_process_play(ray_local, tmp_path, strategy, followers, kill_leader_at, checkpoints):
    task = SyntheticTask(6, 4, min_candidates=2, seed=0)
    stream = task.sample(T, seed=1)
    gold = [int(g) for g in stream.gold]
    config = GameConfig(strategy=strategy, beta=0.1, window=W, c=0.5, seed=4)
    want = play(stream.phi, lambda t: gold[t], config, mask=stream.mask)

    items = [MCItem(f"r{t}", "q", ("a", "b")) for t in range(T)]
    pool = start_followers(config, followers, 1)
    game = start_strategy(config, tmp_path, items, GoldOracleSpec(tuple(gold)), 6, pool, 1)
    phi = stream.phi.astype(np.float64)
    try:
        for k, a in enumerate(range(0, T, W)):
            if k == kill_leader_at and not checkpoints:
                assert game.leader.version > 0  # it has state to lose
                ray.kill(game.leader_actor, no_restart=False)  # the held update is in the next assessment
            paid = game.step(phi[a:a + W], stream.mask[a:a + W], lambda r: (phi[r], stream.mask[r]))
            if checkpoints:
                if k == kill_leader_at:
                    assert paid.size > 0  # so there is an update held back
                    ray.kill(game.leader_actor, no_restart=False)  # the held update is in the state read
                arrays, _ = game.game.state_dict()
                assert arrays["leader.meta"][1] == game.leader.version  # the update held back is in it
        got = game.game.result()
    finally:
        game.close()
        pool.close()
    assert np.array_equal(got.predictions, want.predictions)
    assert np.array_equal(got.queried, want.queried) and got.labels_used == want.labels_used > 0
    assert np.array_equal(got.paid_at, want.paid_at)
    np.testing.assert_allclose(got.theta, want.theta, rtol=0, atol=1e-9)
