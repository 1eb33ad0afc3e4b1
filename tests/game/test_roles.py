"""The in-process roles and the Ray proxies both satisfy the Protocols `Game` is played with: every member
exists, and every method takes the Protocol's parameters (extra ones only with defaults)."""

import inspect

import numpy as np
import pytest

from stackray.actors import CoordinatorGate, FollowerPool, LeaderProxy, RemoteSnapshot
from stackray.game import STRATEGIES, Game, GameConfig, Leader, make_gate
from stackray.game.roles import AssessWindow, GateRole, LeaderRole, Snapshot

PROTOCOLS = (Snapshot, LeaderRole, GateRole, AssessWindow)


def _members(protocol) -> dict[str, object]:
    return {name: value for name, value in vars(protocol).items() if not name.startswith("_") or name == "__call__"}


def mismatches(obj, protocol) -> list[str]:
    """What `obj` lacks of `protocol`, read statically (no property of a proxy is evaluated: that would call Ray)."""
    problems = []
    cls = type(obj)
    for name, member in _members(protocol).items():
        if isinstance(member, property):
            if not (hasattr(cls, name) or name in vars(obj)):
                problems.append(f"{cls.__name__}.{name}: missing")
            continue
        impl = getattr(cls, name, None)
        if not callable(impl):
            problems.append(f"{cls.__name__}.{name}: not a method")
            continue
        want = list(inspect.signature(member).parameters.values())[1:]
        have = list(inspect.signature(impl).parameters.values())[1:]
        if name == "__call__":  # a function or a callable object, called positionally: only the arity matters
            have = list(inspect.signature(obj).parameters.values())
            if len([p for p in have if p.default is p.empty]) != len(want):
                problems.append(f"{cls.__name__}.__call__: {len(have)} parameters, the Protocol has {len(want)}")
            continue
        if [p.name for p in have[:len(want)]] != [p.name for p in want] or any(p.default is p.empty for p in have[len(want):]):
            problems.append(f"{cls.__name__}.{name}{inspect.signature(impl)} does not take {inspect.signature(member)}")
    return problems


def test_the_checker_notices_a_missing_or_different_method():
    class HalfLeader:
        theta = np.zeros(2)

        def commit(self):
            ...

        def update(self, pairs, scale):  # another name, and an extra parameter without a default
            ...

    problems = mismatches(HalfLeader(), LeaderRole)
    assert any("update" in p for p in problems)
    assert any("pairs_seen" in p for p in problems) and any("state_dict" in p for p in problems)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_in_process_roles_satisfy_the_protocols(strategy):
    game = Game(GameConfig(strategy=strategy), 10, 3)
    for role, protocol in ((game.leader, LeaderRole), (game.gate, GateRole), (game.assess_window, AssessWindow),
                           (game.leader.commit(), Snapshot)):
        assert isinstance(role, protocol)
        assert mismatches(role, protocol) == []
    assert isinstance(make_gate(GameConfig(strategy=strategy), 10, None), GateRole)


def test_ray_proxies_satisfy_the_protocols():
    config = GameConfig()
    proxy = LeaderProxy(None, 3, 1.0, 0)  # built without an actor: only their shape is checked here
    snapshot = RemoteSnapshot(proxy, None, 0)
    for role, protocol in ((proxy, LeaderRole), (CoordinatorGate(None, config, 10), GateRole),
                           (FollowerPool([None]), AssessWindow), (snapshot, Snapshot)):
        assert mismatches(role, protocol) == []
    snapshot._value = Leader(3).commit()  # a fetched snapshot: isinstance may read its members
    assert isinstance(snapshot, Snapshot) and isinstance(FollowerPool([None]), AssessWindow)
