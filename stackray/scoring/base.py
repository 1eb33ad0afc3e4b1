"""The scorer interface and the one place where raw LM scores become feature columns.

A backend (transformers here, vLLM elsewhere) only has to produce, for each item's prompt split,
per candidate: the summed log-prob of the continuation's tokens, their count and the last hidden
state mean-pooled over them (`CandidateScores`). `BaseScorer.featurize` turns those into the
feature array, so every backend emits the same columns with the same scaling:

====================  ==========================================================================
column                meaning
====================  ==========================================================================
0  ``mean_logprob``   mean token log-prob of the continuation given the prompt (length-normalised
                      log-likelihood; the game's prior θ₀ = e_0 puts weight 1 here, so round 0
                      ranks candidates exactly as the zero-shot LM does)
1  ``sum_logprob``    summed token log-prob of the continuation given the prompt
2  ``calibration``    log p(y | prompt) − log p(y | NEUTRAL_PROMPT), both sums: how much the
                      question, not the option's prior frequency, supports y
3.. ``hidden_000``..  the final (post-norm) hidden state mean-pooled over the continuation's
                      tokens, times a seeded Gaussian random projection R ∈ R^{H×d_h} with
                      entries N(0, 1/d_h) (d_h = None or 0: the full H dims, unprojected), then
                      rescaled to unit RMS over its d_h coordinates
last ``bias``         1.0 for a real candidate, 0.0 for padding
====================  ==========================================================================

Scale: the game is a ridge regression on these columns, so each stays O(1) and depends only on its
own (item, candidate), never on the batch (that would break the cache and determinism). The hidden
block is rescaled per candidate to unit RMS, like a LayerNorm without gain: its direction carries
the information, and a fixed scale keeps ridge's λ meaningful across models of different width.
Log-prob columns are left in nats (means ~ −1..−10; sums grow with length).

Padding: the array is [N, K, d] with K the largest option count; a missing candidate's row is all
zeros (bias 0 included), so ``phi[..., -1] > 0`` is the validity mask.

The model is loaded lazily, on the first `featurize` call: a scorer built only to compute a cache
key (`fingerprint`, `spec`) never loads weights, which is what makes a feature-cache hit cheap.
"""

from __future__ import annotations

import abc
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from stackray.data.items import MCItem
from stackray.scoring.models import adapter_fingerprint
from stackray.scoring.prompts import NEUTRAL_PROMPT, PROMPT_VERSION, PromptSplit, build_prompts, check_format, shots_hash

# Bump when the meaning or scaling of any column changes: it is part of the feature-cache key.
FEATURE_VERSION = 1
BASE_COLUMNS = ("mean_logprob", "sum_logprob", "calibration")
_NEUTRAL_CHUNK = 8  # distinct option texts scored per neutral pseudo-item
NEUTRAL_MEMO_MAX = 100_000  # texts a `neutral_memo` holds before it starts over (bounds a server's memory)
_RMS_EPS = 1e-12
MODEL_LOADS = 0  # model weights loaded in this process, by any scorer (a sweep trial checks it never moves)


@dataclass
class CandidateScores:
    """One item's raw scores, one row per candidate in option order.

    sum_logprob: float64 [k]; n_tokens: int64 [k] (>= 1); hidden: float32 [k, H], the last hidden
    state mean-pooled over each continuation's tokens.
    """

    sum_logprob: np.ndarray
    n_tokens: np.ndarray
    hidden: np.ndarray


def hidden_names(width: int) -> list[str]:
    return [f"hidden_{i:03d}" for i in range(width)]


class BaseScorer(abc.ABC):
    """Featurises multiple-choice items with a causal LM; subclasses supply `_load` and `_score_splits`."""

    backend: str = ""

    def __init__(
        self,
        model: Any = None,
        adapter: str | os.PathLike | None = None,
        *,
        d_h: int | None = 64,
        dtype: str = "float32",
        seed: int = 0,
        max_length: int = 2048,
        batch_size: int = 8,
    ) -> None:
        if d_h is not None and d_h < 0:
            raise ValueError(f"d_h must be None, 0 or positive, got {d_h}")
        if max_length < 8:
            raise ValueError(f"max_length must be at least 8 tokens, got {max_length}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.model_arg = model
        self.adapter = None if adapter is None else str(adapter)
        self.d_h = d_h or None
        self.dtype = dtype
        self.seed = seed
        self.max_length = max_length
        self.batch_size = batch_size
        self.load_count = 0  # how many times weights were loaded (a cache hit must leave it at 0)
        self.neutral_memo: dict[str, float] | None = None  # see _neutral_sums
        self._fingerprint: str | None = None
        self._base_fingerprint: str | None = None
        self._projection: np.ndarray | None = None

    # ---- identity (no weights needed) -------------------------------------------------------
    @property
    @abc.abstractmethod
    def model_id(self) -> str:
        """A readable model name for logs and metadata."""

    @abc.abstractmethod
    def _model_fingerprint(self) -> str:
        """A content hash of the base weights, computed without loading them where possible."""

    @abc.abstractmethod
    def _hidden_size(self) -> int:
        """The model's hidden size H (from its config; must not load weights)."""

    @property
    def fingerprint(self) -> str:
        """Content hash of the weights and the adapter: the model part of a feature-cache key."""
        if self._fingerprint is None:
            if self._base_fingerprint is None:  # once: a merged adapter changes an in-memory model's weights
                self._base_fingerprint = self._model_fingerprint()
            adapter = adapter_fingerprint(self.adapter)
            self._fingerprint = self._base_fingerprint + (f"+adapter:{adapter}" if adapter else "")
        return self._fingerprint

    @property
    def hidden_width(self) -> int:
        return self.d_h if self.d_h else self._hidden_size()

    @property
    def feature_names(self) -> list[str]:
        return [*BASE_COLUMNS, *hidden_names(self.hidden_width), "bias"]

    def spec(self, fmt: str = "cloze", shots: Sequence[MCItem] = ()) -> dict[str, Any]:
        """Everything besides the items that determines the features (JSON-ready; a cache key part)."""
        return {
            "backend": self.backend,
            "model": self.fingerprint,
            "model_id": self.model_id,
            "dtype": self.dtype,
            "d_h": self.d_h,
            "seed": self.seed,
            "max_length": self.max_length,
            "format": check_format(fmt),
            "shots": shots_hash(shots),
            "num_shots": len(shots),
            "neutral_prompt": NEUTRAL_PROMPT,
            "prompt_version": PROMPT_VERSION,
            "feature_version": FEATURE_VERSION,
        }

    # ---- backend hooks ------------------------------------------------------------------------
    @property
    @abc.abstractmethod
    def model_loaded(self) -> bool:
        """Whether the weights are in memory."""

    @abc.abstractmethod
    def _load(self) -> None:
        """Load the weights (and adapter). Called once, by `ensure_loaded`."""

    @abc.abstractmethod
    def _score_splits(
        self, splits: Sequence[PromptSplit], *, batch_size: int, on_done: Callable[[int], None]
    ) -> list[CandidateScores]:
        """Raw scores for each split, in order; call ``on_done(n)`` as n more splits finish."""

    def set_adapter(self, adapter: str | os.PathLike | None) -> None:
        """Score with another adapter (None: the base) from now on, without restarting the scorer.

        The fingerprint (and so every feature-cache key) follows the new adapter's content, so
        features of the old one are never reused. A loaded model is switched in place by the backend.
        """
        self.adapter = None if adapter is None else str(adapter)
        self._fingerprint = None
        if self.model_loaded:
            self._reload_adapter()

    def _reload_adapter(self) -> None:
        """Switch a loaded model to `self.adapter`; a backend that cannot, says so."""
        raise ValueError(f"the {self.backend} scorer cannot switch adapters on a loaded model; start a new scorer")

    def ensure_loaded(self) -> None:
        global MODEL_LOADS
        if not self.model_loaded:
            self._load()
            self.load_count += 1
            MODEL_LOADS += 1

    # ---- features -----------------------------------------------------------------------------
    def featurize(
        self,
        items: Sequence[MCItem],
        fmt: str = "cloze",
        *,
        shots: Sequence[MCItem] = (),
        batch_size: int | None = None,
        progress: bool = False,
    ) -> np.ndarray:
        """float32 [N, K, d] features of ``items`` (see the module docstring for the columns)."""
        check_format(fmt)
        items = list(items)
        if not items:
            raise ValueError("featurize needs at least one item, got an empty list")
        bs = self.batch_size if batch_size is None else batch_size
        if bs < 1:
            raise ValueError(f"batch_size must be positive, got {bs}")
        splits = build_prompts(items, fmt, shots)
        self.ensure_loaded()
        bar = _progress_bar(len(items), progress)
        try:
            raw = self._score_splits(splits, batch_size=bs, on_done=bar.update if bar else _ignore)
        finally:
            if bar:
                bar.close()
        neutral = self._neutral_sums(splits, batch_size=bs)
        return self._assemble(splits, raw, neutral)

    def _neutral_sums(self, splits: Sequence[PromptSplit], *, batch_size: int) -> dict[str, float]:
        """log p(y | NEUTRAL_PROMPT) for each distinct continuation (it does not depend on the item).

        With `neutral_memo` set (a dict; the server sets it), texts already scored are not scored again:
        served options repeat ("yes"/"no", letters), and this forward pass is otherwise paid per request."""
        texts = sorted({c for s in splits for c in s.continuations})
        memo = self.neutral_memo
        todo = texts if memo is None else [t for t in texts if t not in memo]
        chunks = [
            PromptSplit(NEUTRAL_PROMPT, tuple(todo[i : i + _NEUTRAL_CHUNK])) for i in range(0, len(todo), _NEUTRAL_CHUNK)
        ]
        scores = self._score_splits(chunks, batch_size=batch_size, on_done=_ignore) if chunks else []
        out: dict[str, float] = {}
        for chunk, sc in zip(chunks, scores):
            out.update(zip(chunk.continuations, sc.sum_logprob.tolist()))
        if memo is None:
            return out
        if len(memo) + len(out) > NEUTRAL_MEMO_MAX:
            memo.clear()
        memo.update(out)
        return {t: out[t] if t in out else memo[t] for t in texts}

    def project_hidden(self, pooled: np.ndarray) -> np.ndarray:
        """[k, H] pooled states → [k, width] unit-RMS (projected when d_h is set) hidden features."""
        pooled = np.asarray(pooled, dtype=np.float64)
        if self.d_h:
            if self._projection is None or self._projection.shape[0] != pooled.shape[1]:
                rng = np.random.default_rng(self.seed)
                self._projection = rng.standard_normal((pooled.shape[1], self.d_h)) / np.sqrt(self.d_h)
            pooled = pooled @ self._projection
        rms = np.sqrt(np.mean(pooled**2, axis=1, keepdims=True) + _RMS_EPS)
        return pooled / rms

    def _assemble(
        self, splits: Sequence[PromptSplit], raw: Sequence[CandidateScores], neutral: dict[str, float]
    ) -> np.ndarray:
        width = self.hidden_width
        k_max = max(len(s.continuations) for s in splits)
        phi = np.zeros((len(splits), k_max, 3 + width + 1), dtype=np.float32)
        for i, (split, sc) in enumerate(zip(splits, raw)):
            k = len(split.continuations)
            calib = sc.sum_logprob - np.array([neutral[c] for c in split.continuations])
            phi[i, :k, 0] = sc.sum_logprob / sc.n_tokens
            phi[i, :k, 1] = sc.sum_logprob
            phi[i, :k, 2] = calib
            phi[i, :k, 3 : 3 + width] = self.project_hidden(sc.hidden)
            phi[i, :k, -1] = 1.0
        return phi


def _ignore(_: int) -> None:
    return None


def _progress_bar(total: int, enabled: bool):
    if not enabled:
        return None
    from stackray.progress import progress_bar

    return progress_bar(total=total, unit="q", desc="featurize", smoothing=0.1)
