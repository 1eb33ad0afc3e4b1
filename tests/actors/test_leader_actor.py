"""LeaderActor + LeaderProxy behave exactly like the in-process Leader, and survive a restart."""

import numpy as np
import pytest
import ray

from stackray.actors import LeaderActor, LeaderProxy
from stackray.game import Leader

pytestmark = pytest.mark.slow


def _blocks(d: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((m, d)) for m in (1, 2, 9, 0, 3)]


def test_proxy_matches_in_process_leader(ray_local):
    d = 8
    local = Leader(d, lam=0.5, prior_index=2)
    proxy = LeaderProxy(LeaderActor.remote(d, 0.5, 2), d, 0.5, 2)
    for Z in _blocks(d):
        snap, ref_snap = local.commit(), proxy.commit()
        assert np.array_equal(snap.theta, ref_snap.theta) and np.array_equal(snap.A_inv, ref_snap.A_inv)
        assert snap.version == ref_snap.version
        assert ray.get(proxy.ref_for(ref_snap)).version == snap.version  # the object-store copy is the snapshot
        local.update(Z)
        proxy.update(Z)
    assert np.array_equal(local.theta, proxy.theta)
    assert proxy.pairs_seen == local.pairs_seen == 15


def test_killed_leader_is_restored_to_the_same_state(ray_local):
    d = 6
    local = Leader(d)
    actor = LeaderActor.options(max_restarts=2, max_task_retries=0).remote(d, 1.0, 0)
    proxy = LeaderProxy(actor, d, 1.0, 0)
    blocks = _blocks(d, seed=1)
    for Z in blocks[:2]:
        local.update(Z)
        proxy.update(Z)
    proxy.state_dict()  # a checkpoint: the proxy's synchronised base
    local.update(blocks[2])
    proxy.update(blocks[2])  # in the redo log only
    ray.kill(actor, no_restart=False)
    snap = proxy.commit()  # the fresh actor is at version 0: the proxy restores base + redo, then commits
    assert snap.version == local.version
    assert np.array_equal(snap.theta, local.theta)
    assert np.array_equal(snap.A_inv, local.A_inv)
