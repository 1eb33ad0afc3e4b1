"""LeaderActor + LeaderProxy behave exactly like the in-process Leader, and survive a restart at any point
of the pipelined window (update sent without waiting, the next commit queued behind it)."""

import os
import time

import numpy as np
import pytest
import ray
from ray.exceptions import RayActorError

from stackray.actors import LeaderActor, LeaderProxy, StaleLeaderError
from stackray.game import Leader
from stackray.run import roles

pytestmark = pytest.mark.slow


def _blocks(d: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((m, d)) for m in (1, 2, 9, 0, 3)]


def test_plain_class_runs_in_process_and_checks_versions():
    actor = LeaderActor(4, 1.0, 0)  # no Ray needed
    assert actor.update(0, np.ones((2, 4))).version == 1  # the next window's snapshot
    assert actor.commit(1).version == 1
    with pytest.raises(StaleLeaderError, match="at version 1, the driver expects 0"):
        actor.commit(0)


def test_proxy_matches_in_process_leader(ray_local):
    d = 8
    local = Leader(d, lam=0.5, prior_index=2)
    proxy = LeaderProxy(roles.start("leader", d, 0.5, 2, max_restarts=0), d, 0.5, 2)
    try:
        for Z in _blocks(d):
            snap, remote = local.commit(), proxy.commit()
            assert remote.version == snap.version
            assert np.array_equal(snap.theta, remote.theta) and np.array_equal(snap.A_inv, remote.A_inv)
            assert not remote.A_inv.flags.writeable  # as immutable as the in-process snapshot
            assert ray.get(remote.ref).version == snap.version  # the object-store copy the followers get
            local.update(Z)
            proxy.update(Z)
        assert proxy.commit() is proxy.commit()  # an unchanged leader is not committed twice
        assert np.array_equal(local.theta, proxy.theta)
        assert proxy.pairs_seen == local.pairs_seen == 15
    finally:
        ray.kill(proxy.actor)


@pytest.mark.parametrize("kill_after_checkpoint", [True, False])
def test_killed_leader_is_restored_to_the_same_state(ray_local, kill_after_checkpoint):
    d = 6
    local = Leader(d)
    actor = roles.start("leader", d, 1.0, 0, max_restarts=2)
    proxy = LeaderProxy(actor, d, 1.0, 0)
    blocks = _blocks(d, seed=1)
    try:
        for Z in blocks[:2]:
            local.update(Z)
            proxy.update(Z)
        if kill_after_checkpoint:
            proxy.state_dict()  # a checkpoint: the proxy's synchronised base
        local.update(blocks[2])
        proxy.update(blocks[2])  # sent without waiting; in the redo log
        pid = _pid(actor)
        ray.kill(actor, no_restart=False)  # maybe before the update (and the commit behind it) ran
        _wait_for_restart(actor, pid)  # ray.kill is asynchronous: make sure the replica that answers is a new one
        snap = proxy.commit()  # the fresh actor is at version 0: the proxy restores base + redo and commits again
        assert snap.version == local.version
        assert np.array_equal(snap.theta, local.theta)
        assert np.array_equal(snap.A_inv, local.A_inv)
        assert np.array_equal(proxy.state_dict()["A"], local.A)
    finally:
        ray.kill(actor)


def _wait_for_restart(actor, old_pid: int, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if _pid(actor) != old_pid:
                return
        except RayActorError:  # dead or restarting right now
            pass
        time.sleep(0.05)
    raise AssertionError(f"the leader (pid {old_pid}) was not restarted within {timeout} s")


def _pid(actor) -> int:
    """The actor's process id (asked through Ray's generic actor call; proves a restart happened)."""
    return ray.get(actor.__ray_call__.remote(lambda _self: os.getpid()))
