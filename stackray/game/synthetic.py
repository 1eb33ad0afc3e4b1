"""A synthetic linear environment with a hidden theta*, for regret curves and property tests.

Each candidate has latent features x ~ N(0, I_{d-1}) and true utility u = theta*^T x. The learner
sees phi = [prior, x + feature_noise * N(0, I)], where the prior column (the stand-in for the LM's
log-likelihood, column 0) is a noisy correlate of u: prior = prior_quality * u + N(0, 1). The gold
answer is argmax(u + label_noise * Gumbel), so label_noise = 0 gives noiseless labels and the
zero-shot policy (argmax of the prior) is better than chance but far from optimal.

Regret of a prediction is u(best) - u(prediction), measured on the true utilities outside the game.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class SyntheticRounds:
    phi: np.ndarray  # [T, K, d] what the learner sees
    mask: np.ndarray  # [T, K] validity
    utility: np.ndarray  # [T, K] true utilities (-inf on padding)
    gold: np.ndarray  # [T] the oracle's answers (noisy argmax of utility)
    best: np.ndarray  # [T] argmax of utility

    def regret(self, predictions: np.ndarray) -> np.ndarray:
        """Per-round regret of the given predictions, >= 0."""
        rows = np.arange(len(predictions))
        return self.utility[rows, self.best] - self.utility[rows, predictions]


class SyntheticTask:
    """A hidden theta* from which any number of independent round sequences can be drawn."""

    def __init__(self, dim: int = 10, num_candidates: int = 4, *, signal: float = 3.0, feature_noise: float = 0.1,
                 label_noise: float = 0.0, prior_quality: float = 0.5, min_candidates: int | None = None,
                 seed: int = 0) -> None:
        if dim < 2:
            raise ValueError(f"SyntheticTask.dim: needs >= 2 (prior + one latent feature), got {dim}")
        if num_candidates < 2:
            raise ValueError(f"SyntheticTask.num_candidates: needs >= 2, got {num_candidates}")
        for name, value in (("feature_noise", feature_noise), ("label_noise", label_noise), ("signal", signal)):
            if value < 0:
                raise ValueError(f"SyntheticTask.{name}: must be >= 0, got {value}")
        self.dim, self.K = dim, num_candidates
        self.min_K = num_candidates if min_candidates is None else min_candidates
        if not 2 <= self.min_K <= num_candidates:
            raise ValueError(f"SyntheticTask.min_candidates: must be in [2, {num_candidates}], got {min_candidates}")
        self.feature_noise, self.label_noise, self.prior_quality = feature_noise, label_noise, prior_quality
        direction = np.random.default_rng(seed).normal(size=dim - 1)
        self.theta_star = signal * direction / np.linalg.norm(direction)

    def sample(self, rounds: int, seed: int = 0) -> SyntheticRounds:
        rng = np.random.default_rng(seed)
        T, K, d = rounds, self.K, self.dim
        x = rng.normal(size=(T, K, d - 1))
        utility = x @ self.theta_star
        counts = rng.integers(self.min_K, K + 1, size=T)
        mask = np.arange(K)[None, :] < counts[:, None]
        prior = self.prior_quality * utility + rng.normal(size=(T, K))
        phi = np.concatenate([prior[..., None], x + self.feature_noise * rng.normal(size=x.shape)], axis=2)
        phi[~mask] = 0.0
        utility = np.where(mask, utility, -np.inf)
        noisy = utility + self.label_noise * rng.gumbel(size=(T, K))
        return SyntheticRounds(phi=phi, mask=mask, utility=utility, gold=noisy.argmax(axis=1),
                               best=utility.argmax(axis=1))
