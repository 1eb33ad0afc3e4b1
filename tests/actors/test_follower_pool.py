"""A window assessed by N FollowerActors (shards) equals the in-process assessment row for row."""

import numpy as np
import pytest
from dataclasses import fields

from stackray.actors import FollowerActor, FollowerPool
from stackray.game import Leader, WindowAssessment, assess

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("n_followers", [1, 3])
def test_pool_equals_in_process_assess(ray_local, n_followers):
    rng = np.random.default_rng(0)
    n, K, d = 50, 4, 7
    phi = rng.standard_normal((n, K, d))
    mask = np.ones((n, K), dtype=bool)
    mask[::5, 3] = False  # padded candidates
    leader = Leader(d)
    leader.update(rng.standard_normal((5, d)))
    snap = leader.commit()
    pool = FollowerPool([FollowerActor.remote(0.7, 0.5, 0.0) for _ in range(n_followers)])
    got = pool(snap, phi, mask)
    want = assess(snap, phi, mask, alpha=0.7, c=0.5, tau=0.0)
    for f in fields(WindowAssessment):
        np.testing.assert_allclose(getattr(got, f.name), getattr(want, f.name), rtol=0, atol=1e-12, err_msg=f.name)
    assert not np.any(mask[np.arange(n), got.alternative] == False)  # noqa: E712  never a padded alternative
