"""Regret on the synthetic linear environment (stackray.game.synthetic; the gate threshold in docs/game.md)."""

import numpy as np
import pytest

from stackray.game import GameConfig, play
from stackray.game.synthetic import SyntheticTask

SEEDS, T, BETA = range(10), 4000, 0.1
TUNED_C = 0.25  # the gate threshold the sweep in docs/benchmarks.md picks for this environment
DEFAULT_C = GameConfig().c


def test_full_information_regret_is_sublinear():
    task = SyntheticTask(dim=10, seed=0, label_noise=0.3)
    stream = task.sample(16000, seed=1)
    result = play(stream.phi, lambda t: int(stream.gold[t]), GameConfig(strategy="full"), mask=stream.mask)
    cumulative = np.cumsum(stream.regret(result.predictions))
    Ts = np.array([1000, 2000, 4000, 8000, 16000])
    slope = np.polyfit(np.log(Ts), np.log(cumulative[Ts - 1]), 1)[0]
    assert slope <= 0.6, f"log-log slope of cumulative regret {slope:.2f} > 0.6"
    # and learning happened: the zero-shot prior alone is far worse
    zero = play(stream.phi, lambda t: 0, GameConfig(strategy="zero_shot"), mask=stream.mask)
    assert stream.regret(zero.predictions).sum() > 5 * cumulative[-1]


@pytest.fixture(scope="module")
def runs() -> dict[str, dict[str, np.ndarray]]:
    """Cumulative regret and labels used per seed of llf (tuned and default c; widest-first at the default c),
    random and zero_shot."""
    plays = {"llf_tuned": dict(strategy="llf", c=TUNED_C), "llf_default": dict(strategy="llf"),
             "llf_widest": dict(strategy="llf", rank="width"), "random": dict(strategy="random"),
             "zero_shot": dict(strategy="zero_shot")}
    out = {name: {"regret": [], "labels": []} for name in plays}
    for seed in SEEDS:
        stream = SyntheticTask(dim=10, seed=seed).sample(T, seed=seed + 100)
        for name, kw in plays.items():
            cfg = GameConfig(beta=BETA, seed=seed, **kw)
            result = play(stream.phi, lambda t: int(stream.gold[t]), cfg, mask=stream.mask)
            out[name]["regret"].append(stream.regret(result.predictions).sum())
            out[name]["labels"].append(result.labels_used)
    return {name: {k: np.array(v) for k, v in d.items()} for name, d in out.items()}


def test_every_budgeted_strategy_stays_within_its_budget(runs):
    for name in ("llf_tuned", "llf_default", "random"):
        assert runs[name]["labels"].max() <= BETA * T, name


def test_llf_beats_random_at_equal_budget(runs):
    """At the tuned c = 0.25 the gate spends fewer labels than random and still has less regret."""
    llf, rnd = runs["llf_tuned"], runs["random"]
    assert llf["regret"].mean() < rnd["regret"].mean(), (llf["regret"].mean(), rnd["regret"].mean())
    assert llf["labels"].mean() < rnd["labels"].mean()


def test_llf_at_the_default_c(runs):
    """At the API default c = 1 nearly every early round is 'uncertain', so the gate spends about its whole
    budget, and under A ~ lambda*I the widest rounds are the easy ones: widest-first (rank = width) then has
    MORE regret than random (measured over these seeds: 381 vs 325). The default rank = gap pays first for
    the rounds whose confidence interval crosses zero furthest, and beats random (measured: 193)."""
    default, widest, rnd, zero = (runs[n] for n in ("llf_default", "llf_widest", "random", "zero_shot"))
    assert default["regret"].mean() < 0.5 * zero["regret"].mean()
    assert default["regret"].mean() < rnd["regret"].mean()
    assert default["regret"].mean() < widest["regret"].mean()
    assert default["labels"].mean() > runs["llf_tuned"]["labels"].mean()
