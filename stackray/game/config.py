"""GameConfig: every knob of the LLF-STACKSL game, validated once.

Why a frozen dataclass: a config is logged with every run, swept by Ray Tune and compared across
restarts; it must be hashable, printable and impossible to mutate half-way through a game.
"""

from __future__ import annotations

import math
import typing
from dataclasses import Field, asdict, dataclass, field, fields

import numpy as np

RANKS = ("width", "gap", "ratio")
STRATEGIES = ("llf", "random", "margin", "entropy", "passive", "zero_shot", "full")


def _knob(default: object, doc: str) -> typing.Any:
    """A GameConfig field with its one-line doc (the help text of every front end built from it)."""
    return field(default=default, metadata={"doc": doc})


@dataclass(frozen=True)
class GameConfig:
    """Parameters of one game; each field's meaning is its `doc` metadata (see `knobs`).

    The docs are data, not prose, because two front ends are generated from them: the `game:` section
    of a run config (stackray.run.config) and the flags of `stackray simulate`. A field added here
    reaches both, with its default and its help text, without a second copy to drift.
    """

    strategy: str = _knob("llf", "which rounds get labels: `llf` (the confidence gate), the baselines `random`, "
                          "`margin`, `entropy`, `passive`, `zero_shot`, or `full` (STACKSL: every round)")
    beta: float = _knob(0.1, "label fraction: the budget is B = floor(beta * T) label units")
    c: float = _knob(1.0, "confidence multiplier: a round is uncertain when margin < c * width")
    rank: str = _knob("gap", "how `llf` orders its uncertain rounds, largest first: `gap` (c w - margin: how far the "
                      "confidence interval crosses zero), `width` (w) or `ratio` (w / margin)")
    tau: float = _knob(0.0, "minimum width for a round to count as uncertain")
    alpha: float = _knob(1.0, "the follower's optimism bonus on ||dphi||_{A^-1}")
    lam: float = _knob(1.0, "ridge strength; A starts at lam * I and theta is anchored at the prior theta0")
    lam_tail: float = _knob(0.0, "ridge strength on the feature columns from `tail_from` on (in stackray's features the "
                            "LM hidden-state block); 0: lam, one ridge for every column")
    tail_from: int = _knob(3, "first column `lam_tail` applies to (stackray's features: 3 LM scalars, then the hidden block)")
    window: int = _knob(64, "rounds per window: the leader commits once per window and the gate ranks it whole")
    max_wait: int = _knob(2, "windows an uncertain round that did not fit may wait in the pending queue")
    slack: int = _knob(0, "extra labels allowed over the pace ceil(beta * n)")
    prior_index: int = _knob(0, "the feature column theta0 puts weight 1 on (the LM's length-normalised log-lik)")
    seed: int = _knob(0, "seeds the `random` baseline and the audit draws; nothing else is random")
    negatives: int = _knob(3, "k: at most this many supervised hardest negatives per labelled round")
    audit: float = _knob(0.0, "share of the budget `llf`, `margin` and `entropy` spend on rounds drawn uniformly at "
                         "random (audit labels): they train the head like any label and are the served-head guard's "
                         "unbiased evidence; 0: none")

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"GameConfig.strategy: {self.strategy!r} is not one of {', '.join(STRATEGIES)}")
        if self.rank not in RANKS:
            raise ValueError(f"GameConfig.rank: {self.rank!r} is not one of {', '.join(RANKS)}")
        _check_real("beta", self.beta)
        if not 0.0 < self.beta <= 1.0:
            raise ValueError(f"GameConfig.beta: must be in (0, 1], got {self.beta}")
        for name in ("c", "tau", "alpha"):
            value = getattr(self, name)
            _check_real(name, value)
            if value < 0:
                raise ValueError(f"GameConfig.{name}: must be >= 0, got {value}")
        _check_real("lam", self.lam)
        if self.lam <= 0:
            raise ValueError(f"GameConfig.lam: must be > 0, got {self.lam}")
        _check_real("lam_tail", self.lam_tail)
        if self.lam_tail < 0:
            raise ValueError(f"GameConfig.lam_tail: must be >= 0 (0: the same as lam), got {self.lam_tail}")
        for name, low in (("window", 1), ("max_wait", 0), ("slack", 0), ("prior_index", 0), ("negatives", 1), ("tail_from", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"GameConfig.{name}: must be an integer, got {value!r}")
            if value < low:
                raise ValueError(f"GameConfig.{name}: must be >= {low}, got {value}")
        _check_real("audit", self.audit)
        if not 0.0 <= self.audit < 1.0:
            raise ValueError(f"GameConfig.audit: must be in [0, 1), got {self.audit}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ValueError(f"GameConfig.seed: must be an integer, got {self.seed!r}")

    def budget(self, total_rounds: int) -> float:
        """B in label units. floor, so that no reading of "beta * T" is ever exceeded."""
        if self.strategy == "full":
            return float(total_rounds)
        return float(math.floor(self.beta * total_rounds))

    def ridge(self, dim: int) -> np.ndarray:
        """The leader's ridge per feature column [dim]: lam, and lam_tail from column tail_from on.

        Why per column: the hidden-state block has 64 columns that 50 labels cannot pin down, while the
        three LM scalars carry most of what a small budget can learn; one ridge must either starve the
        scalars or let the hidden block overfit (docs/game.md, "Ablations on real features")."""
        ridge = np.full(dim, float(self.lam))
        if self.lam_tail > 0:
            ridge[self.tail_from:] = self.lam_tail
        return ridge

    def pace(self, rounds_played: int) -> float:
        """ceil(beta * n) + slack; the 1e-9 keeps float noise (0.1 * 30 = 3.0000000000000004) from adding a label."""
        return float(math.ceil(self.beta * rounds_played - 1e-9) + self.slack)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "GameConfig":
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"GameConfig: unknown field(s) {', '.join(sorted(unknown))}")
        return cls(**data)


def knobs() -> list[tuple[Field, type]]:
    """Every GameConfig field but `strategy`, with its resolved type: the knobs a run config's `game:`
    section and `stackray simulate`'s flags are generated from (the strategy is chosen per run)."""
    hints = typing.get_type_hints(GameConfig)
    return [(f, hints[f.name]) for f in fields(GameConfig) if f.name != "strategy"]


def _check_real(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"GameConfig.{name}: must be a finite number, got {value!r}")
