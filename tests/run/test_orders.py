"""data.orders: several seeded orders of one pool in one run directory, summarised with mean and CI.

Checks that order k really plays the stored pool in permutation k (the ledger's items), that later
orders read every feature from the cache the first one filled, that the top-level summary is the
mean of the orders' own summaries, that resume finishes a missing order, and that the config refuses
what makes no sense (a human oracle paying again per order, data.order set beside data.orders)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from runs import ledger, summary, tiny_config
from stackray.run import ConfigError, load_config, run_active
from stackray.run.driver import play_order

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def two_orders(ray_local, tiny_model, tiny_cache, tmp_path_factory):
    root = tmp_path_factory.mktemp("orders")
    config = tiny_config(root, tiny_model, tiny_cache, data={"orders": 2}, strategies=["llf", "random", "zero_shot"])
    doc = run_active(config, run_dir=root / "run", progress=False)
    return config, root / "run", doc


def test_each_order_plays_the_same_pool_in_its_own_permutation(two_orders):
    config, run_dir, _ = two_orders
    stored, _ = load_config(config).items()
    firsts = []
    for k in (0, 1):
        sub = run_dir / f"order-{k}"
        assert load_config(sub / "config.yaml").data.order == k
        perm = play_order(len(stored), k)
        paid = ledger(sub / "random")
        assert paid, "random paid for no label"
        for round_, item, answer, _ in paid:
            assert item == stored[perm[round_]].id and answer == stored[perm[round_]].answer
        firsts.append(perm[:16].tolist())
    assert firsts[0] != firsts[1], "order 1 played the first window in the stored order"
    assert summary(run_dir / "order-1")["features"]["cache_misses"] == 0  # order 0 filled the cache


def test_top_level_summary_is_the_mean_over_orders(two_orders):
    _, run_dir, doc = two_orders
    orders = [{r["strategy"]: r for r in summary(run_dir / f"order-{k}")["rows"]} for k in (0, 1)]
    top = {r["strategy"]: r for r in summary(run_dir)["rows"]}
    for s in ("llf", "random", "zero_shot"):
        accs = [o[s]["accuracy"] for o in orders]
        mean, half = top[s]["accuracy"]
        assert mean == pytest.approx(np.mean(accs)) and half == pytest.approx(12.71 * np.std(accs, ddof=1) / np.sqrt(2))
        assert top[s]["learned_served"] == sum(o[s]["served"] == "learned" for o in orders)
        assert top[s]["labels_used"] == np.mean([o[s]["labels_used"] for o in orders])
    assert top["llf"]["minus_random"][0] == pytest.approx(np.mean([o["llf"]["accuracy"] - o["random"]["accuracy"] for o in orders]))
    assert "mean ± 95% CI over 2 seeded orders" in doc["table"]


def test_resume_plays_only_the_missing_order(two_orders, tmp_path):
    _, run_dir, _ = two_orders
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    shutil.rmtree(copy / "order-1")
    before = (copy / "order-0" / "summary.json").read_bytes()
    run_active(None, resume=copy, progress=False)
    assert (copy / "order-0" / "summary.json").read_bytes() == before  # finished orders are not replayed
    for s in ("llf", "random"):
        assert ledger(copy / "order-1" / s) == ledger(run_dir / "order-1" / s)
    assert summary(copy)["rows"] == summary(run_dir)["rows"]


@pytest.mark.parametrize("extra, key", [
    ({"data": {"orders": 2}, "oracle": {"kind": "human"}, "strategies": ["llf"]}, "data.orders"),
    ({"data": {"orders": 2, "order": 1}}, "data.order")])
def test_config_refuses_orders_that_make_no_sense(tmp_path, tiny_model, tiny_cache, extra, key):
    config = tiny_config(tmp_path, tiny_model, tiny_cache, **extra)
    with pytest.raises(ConfigError, match=rf"{key}\b"):
        load_config(config)


def test_verify_checks_every_order(two_orders, tmp_path):
    from stackray.run.integrity import verify_run

    _, run_dir, _ = two_orders
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    assert verify_run(copy).problems == []
    ledger_file = copy / "order-1" / "llf" / "ledger.jsonl"
    lines = ledger_file.read_text().splitlines(keepends=True)
    ledger_file.write_text("".join(lines[:-2] + lines[-1:]))  # a paid label deleted
    problems = verify_run(copy).problems
    assert problems and all("order-1" in p for p in problems), problems
