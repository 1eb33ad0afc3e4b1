"""A window assessed by N FollowerActors (shards) equals the in-process assessment row for row, whether
the snapshot is in process or the leader's object-store commit, and whether the window is shared."""

from dataclasses import fields

import numpy as np
import pytest
import ray

from stackray.actors import FollowerActor, FollowerPool, LeaderProxy
from stackray.actors.follower import shards_for
from stackray.game import Confidence, GameConfig, Leader, assess, confidence
from stackray.run import roles

pytestmark = pytest.mark.slow
CONFIG = GameConfig(alpha=0.7, c=0.5, tau=0.0)


def _window(n=50, K=4, d=7):
    rng = np.random.default_rng(0)
    phi = rng.standard_normal((n, K, d))
    mask = np.ones((n, K), dtype=bool)
    mask[::5, 3] = False  # padded candidates
    return phi, mask, rng.standard_normal((5, d))


def _assert_same(got, want) -> None:
    for f in fields(type(want)):
        np.testing.assert_allclose(getattr(got, f.name), getattr(want, f.name), rtol=0, atol=1e-12, err_msg=f.name)


def test_a_window_is_split_only_where_each_shard_outweighs_a_ray_call():
    assert shards_for(32, 4, 68, followers=4) == 1  # the demo's window: one call
    assert shards_for(1024, 4, 600, followers=4) == 4  # a production window: every follower
    assert shards_for(3, 4, 600, followers=8, min_shard_flops=0) == 3  # never an empty shard


def test_plain_follower_runs_in_process():
    phi, mask, Z = _window()
    leader = Leader(phi.shape[2])
    leader.update(Z)
    snap = leader.commit()
    window, pending = FollowerActor(CONFIG).assess(snap, phi, mask, 10, 30)
    _assert_same(window, assess(snap, phi[10:30], mask[10:30], alpha=0.7, c=0.5, tau=0.0))
    assert pending is None


@pytest.mark.parametrize("n_followers, shared", [(1, False), (3, False), (2, True)])
def test_pool_equals_in_process_assess(ray_local, n_followers, shared):
    phi, mask, Z = _window()
    d = phi.shape[2]
    leader = Leader(d)
    leader.update(Z)
    actors = [roles.start("follower", CONFIG, max_restarts=0) for _ in range(n_followers)]
    pool = FollowerPool(actors, min_shard_flops=0)  # every follower gets a shard, however small
    proxy = LeaderProxy(roles.start("leader", d, 1.0, 0, max_restarts=0), d, 1.0, 0)
    proxy.update(Z)
    if shared:
        pool.share(phi, mask)
    want = assess(leader.commit(), phi, mask, alpha=0.7, c=0.5, tau=0.0)
    pending_z = phi[:7, 0] - phi[:7, 1]  # 7 pending pairs: shards of 2-4 rows each
    want_pending = confidence(leader.commit(), pending_z, c=0.5, tau=0.0)
    try:
        got, none = pool(leader.commit(), phi, mask, None)  # an in-process snapshot, nothing pending
        _assert_same(got, want)
        assert none is None
        got, pending = pool(proxy.commit(), phi, mask, pending_z)  # the leader actor's object-store commit
        _assert_same(got, want)
        assert isinstance(pending, Confidence)
        _assert_same(pending, want_pending)
        if shared:
            _assert_same(pool(proxy.commit(), phi.copy(), mask, None)[0], want)  # another array: not the shared window
    finally:
        pool.close()
        ray.kill(proxy.actor)
    assert mask[np.arange(len(phi)), got.alternative].all()  # never a padded alternative


def test_hosted_window_carries_the_held_back_update_once(ray_local):
    """A window one shard suffices for is assessed in the leader's actor, and the update the proxy held
    back since the last window travels with it: the assessment is the updated leader's, and the update is
    applied exactly once (a second application, or none, would fail the actor's version check)."""
    phi, mask, Z = _window()
    d = phi.shape[2]
    local = Leader(d)
    proxy = LeaderProxy(roles.start("leader", d, 1.0, 0, CONFIG, max_restarts=0), d, 1.0, 0, hosts_follower=True)
    pool = FollowerPool([roles.start("follower", CONFIG, max_restarts=0)])  # default shard rule: one shard here
    rng = np.random.default_rng(1)
    try:
        for block in (Z, rng.standard_normal((3, d)), rng.standard_normal((1, d))):
            local.update(block)
            proxy.update(block)
            got, _ = pool(proxy.commit(), phi[:8], mask[:8], None)
            _assert_same(got, assess(local.commit(), phi[:8], mask[:8], alpha=0.7, c=0.5, tau=0.0))
        local.update(Z)
        proxy.update(Z)  # held back, then carried by the state read (as a checkpoint reads it)
        assert np.array_equal(proxy.state_dict()["A"], local.A) and proxy.version == local.version == 4
    finally:
        pool.close()
        ray.kill(proxy.actor)
