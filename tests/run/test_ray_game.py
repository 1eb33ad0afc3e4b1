"""The game on actors is the game core: the same predictions, labels and theta as the in-process `play`."""

import numpy as np
import pytest

from stackray.data import MCItem
from stackray.game import GameConfig, play
from stackray.game.synthetic import SyntheticTask
from stackray.run.ray_game import start_followers, start_strategy

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("strategy, followers", [("llf", 2), ("random", 1)])
def test_actor_game_equals_in_process_play(ray_local, tmp_path, strategy, followers):
    task = SyntheticTask(6, 4, min_candidates=2, seed=0)
    stream = task.sample(300, seed=1)
    gold = [int(g) for g in stream.gold]
    config = GameConfig(strategy=strategy, beta=0.1, window=32, c=0.5, seed=4)
    want = play(stream.phi, lambda t: gold[t], config, mask=stream.mask)

    items = [MCItem(f"r{t}", "q", ("a", "b")) for t in range(300)]
    pool = start_followers(config, followers, 1)
    game = start_strategy(config, tmp_path, items, ("gold", gold), 6, pool, 1)
    phi = stream.phi.astype(np.float64)
    try:
        for a in range(0, 300, 32):
            game.step(phi[a:a + 32], stream.mask[a:a + 32], lambda r: (phi[r], stream.mask[r]))
        got = game.game.result()
    finally:
        game.close()
    assert np.array_equal(got.predictions, want.predictions)
    assert np.array_equal(got.queried, want.queried) and got.labels_used == want.labels_used > 0
    assert np.array_equal(got.paid_at, want.paid_at)
    np.testing.assert_allclose(got.theta, want.theta, rtol=0, atol=1e-9)
