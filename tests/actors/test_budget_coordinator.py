"""The BudgetCoordinator is the only door to labels: it pays through the ledger before returning, and a
restarted coordinator neither re-pays nor loses a label."""

import os

import numpy as np
import pytest
import ray

from stackray.actors import BudgetCoordinator, CoordinatorGate, GoldOracleSpec, SelectRequest
from stackray.budget import read_ledger
from stackray.game import GameConfig, Leader, assess, make_gate
from stackray.run import roles

pytestmark = pytest.mark.slow

T, K, d = 40, 4, 5
NONE = np.zeros(0, dtype=np.int64)


def _window(seed: int, n: int = 20):
    rng = np.random.default_rng(seed)
    phi = rng.standard_normal((n, K, d))
    return assess(Leader(d).commit(), phi, np.ones((n, K), dtype=bool), alpha=1.0, c=5.0, tau=0.0)


def _ids():
    return [f"item{t}" for t in range(T)]


def _coordinator(tmp_path, config: GameConfig, gold):
    actor = roles.start("coordinator", config, str(tmp_path), _ids(), GoldOracleSpec(tuple(gold)), max_restarts=2)
    return actor, CoordinatorGate(actor, config, T)


def test_plain_coordinator_pays_in_process(tmp_path):
    config = GameConfig(strategy="llf", beta=0.25, c=5.0)
    gold = [(3 * t) % K for t in range(T)]
    coordinator = BudgetCoordinator(config, str(tmp_path), _ids(), GoldOracleSpec(tuple(gold)))  # no Ray needed
    try:
        chosen, answers, state = coordinator.select(SelectRequest(make_gate(config, T, None).state_dict(),
                                                                  np.arange(20), _window(0), NONE, None, 20))
        assert chosen.size == 5 and state["labels"] == 5
        assert answers.tolist() == [gold[t] for t in chosen]
        assert {e.round: e.answer for e in read_ledger(tmp_path / "ledger.jsonl")} == dict(zip(chosen.tolist(), answers.tolist()))
    finally:
        coordinator.close()


def test_select_pays_through_the_ledger_before_returning(ray_local, tmp_path):
    config = GameConfig(strategy="llf", beta=0.25, c=5.0)
    gold = [(3 * t) % K for t in range(T)]
    actor, gate = _coordinator(tmp_path, config, gold)
    chosen = gate.select(np.arange(20), _window(0), NONE, None, 20)
    assert chosen.size == 5  # the pace ceil(0.25 * 20)
    on_disk = {e.round: e.answer for e in read_ledger(tmp_path / "ledger.jsonl")}
    assert on_disk == {int(t): gold[t] for t in chosen}  # durable before select returned
    assert [gate.oracle(int(t)) for t in chosen] == [gold[t] for t in chosen]
    with pytest.raises(ValueError, match="not paid for"):
        gate.oracle(int(np.setdiff1d(np.arange(20), chosen)[0]))
    ray.get(actor.close.remote())


def test_restarted_coordinator_neither_repays_nor_loses(ray_local, tmp_path):
    config = GameConfig(strategy="random", beta=0.3, seed=3)
    gold = [t % K for t in range(T)]
    actor, gate = _coordinator(tmp_path, config, gold)
    state_before = gate.state_dict()
    first = gate.select(np.arange(20), _window(1), NONE, None, 20)
    lines_before = (tmp_path / "ledger.jsonl").read_bytes()

    # The coordinator dies after paying; the driver replays the window from its last committed state.
    pid = ray.get(actor.__ray_call__.remote(lambda _self: os.getpid()))
    ray.kill(actor, no_restart=False)
    gate.load_state_dict(state_before)
    again = gate.select(np.arange(20), _window(1), NONE, None, 20)
    assert np.array_equal(first, again)
    assert (tmp_path / "ledger.jsonl").read_bytes() == lines_before  # nothing paid twice
    assert ray.get(actor.__ray_call__.remote(lambda _self: os.getpid())) != pid  # a new process answered
    assert ray.get(actor.paid_by_this_process.remote()) == 0  # every answer came from the reloaded ledger
    assert ray.get(actor.ledger_size.remote())[0] == first.size  # nothing lost

    nxt = gate.select(np.arange(20, 40), _window(2), NONE, None, 40)
    entries = read_ledger(tmp_path / "ledger.jsonl")
    assert len(entries) == first.size + nxt.size <= np.ceil(0.3 * 40)
    assert len({e.round for e in entries}) == len(entries)
    ray.get(actor.close.remote())
