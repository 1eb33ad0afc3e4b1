"""LoraTrainer: LoRA supervised fine-tuning of the scoring LM on the paid labels.

The loss of a labelled question with gold answer g and the follower's hardest alternatives a_1..a_k:

    loss = NLL(g) + w * mean_j softplus(-(ll(g) - ll(a_j)))

NLL(g) is the mean negative log-likelihood of the gold answer's tokens given the prompt (the prompt's
tokens carry no loss), ll(y) the mean token log-likelihood of option y: the length-normalised score
that the game's prior theta0 ranks candidates by (feature column 0), so the pairwise term pushes
exactly the ranking the zero-shot head reads, on the alternatives the follower found hardest.

How it computes: each question is one tree-packed row (stackray.scoring.packing) holding its prompt
once and gold + alternatives after it, the same packing and tokenisation the transformers scorer uses,
so the trainer's log-likelihoods are the scorer's. The base is loaded as a plain model
(`load_plain_model`: a GGUF is dequantised into a fresh, trainable one) and the LoRA targets the
attention projections only (the embeddings are tied to the LM head).

Determinism: a phase trains a *fresh* adapter from the base on every example it is given: torch is
seeded with `settings.seed` just before the LoRA weights are created, batches are drawn from
numpy's generator with the same seed, dropout defaults to 0 and torch's threads are set explicitly.
The same examples give the same adapter, so a resumed run can retrain a lost phase exactly.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from stackray.data.items import MCItem
from stackray.scoring.hf_backend import TransformersScorer, available_cpus
from stackray.scoring.models import load_plain_model, resolve_model
from stackray.scoring.packing import option_logprobs, pack_tree
from stackray.scoring.prompts import build_prompts
from stackray.train.adapter import load_adapter, write_adapter
from stackray.train.settings import LoraSettings


@dataclass(frozen=True)
class TrainExample:
    """One paid label: the question, its gold option and the alternatives it is contrasted with."""

    item: MCItem
    gold: int
    alternatives: tuple[int, ...]

    def __post_init__(self) -> None:
        n = self.item.num_options
        if not 0 <= self.gold < n:
            raise ValueError(f"item {self.item.id!r}: gold {self.gold} is not one of its {n} options")
        if any(not 0 <= a < n or a == self.gold for a in self.alternatives):
            raise ValueError(f"item {self.item.id!r}: alternatives {self.alternatives} must be other options than gold")


@dataclass
class PhaseResult:
    """What one training phase did: optimizer steps, the per-step losses and its wall time."""

    examples: int
    steps: int
    losses: list[float] = field(default_factory=list)
    wall_s: float = 0.0

    @property
    def loss(self) -> float | None:
        """The mean loss of the last epoch's worth of steps (None when nothing was trained)."""
        if not self.losses:
            return None
        tail = self.losses[-max(1, len(self.losses) // 2):]
        return float(np.mean(tail))


class LoraTrainer:
    """Trains, evaluates and saves LoRA adapters on one base model (loaded lazily, once)."""

    # Tokenisation, LM-head log-probs and the pad id are the transformers scorer's (they read only
    # self._tokenizer, self.max_length and self._model), so both see the same ids and numbers.
    _tokenize = TransformersScorer._tokenize
    _logprobs = TransformersScorer._logprobs
    _pad_id = TransformersScorer._pad_id

    def __init__(self, settings: LoraSettings, model: str | None = None, fmt: str = "cloze") -> None:
        self.settings = settings
        self.fmt = fmt
        self.source = resolve_model(model)
        self.base_fingerprint = self.source.fingerprint()
        self.max_length = settings.max_length
        self.device = "cpu"  # "cuda" once loaded where torch sees a GPU
        self._base = None  # the plain base model (LoRA layers are injected into it while a phase's adapter lives)
        self._peft = None
        self._model = None  # what log-probs run on: the base, with the current adapter's layers when there is one
        self._tokenizer = None

    # ---- the model ----------------------------------------------------------------------------
    def ensure_loaded(self) -> None:
        import torch

        torch.set_num_threads(self.settings.threads or available_cpus())
        if self._base is None:
            self.device = "cuda" if torch.cuda.is_available() else "cpu"
            self._base, self._tokenizer = load_plain_model(self.source, "float32", attn_implementation="sdpa")
            self._base.to(self.device).eval()
            self._model = self._base

    def _fresh_adapter(self) -> None:
        """Drop the current adapter (the base is left as loaded) and attach a new, seeded one."""
        import torch
        from peft import LoraConfig, get_peft_model

        self._drop_adapter()
        s = self.settings
        config = LoraConfig(r=s.rank, lora_alpha=s.alpha, lora_dropout=s.dropout, target_modules=list(s.targets),
                            task_type="CAUSAL_LM")
        torch.manual_seed(s.seed)
        self._peft = get_peft_model(self._base, config)
        self._model = self._peft.base_model.model

    def _drop_adapter(self) -> None:
        if self._peft is not None:
            self._base = self._peft.unload()  # removes the LoRA layers without merging them
            self._peft = None
        self._model = self._base

    def load(self, folder: str | Path) -> None:
        """Use a saved adapter (checked against this base) for `option_logprobs` and `evaluate`."""
        self.ensure_loaded()
        self._drop_adapter()
        self._peft = load_adapter(self._base, folder, self.base_fingerprint)
        self._model = self._peft.base_model.model

    # ---- training -----------------------------------------------------------------------------
    def train(self, examples: Sequence[TrainExample]) -> PhaseResult:
        """Train a fresh adapter on `examples` (see the module docstring); the trainer then holds it."""
        import torch

        self.ensure_loaded()
        self._fresh_adapter()
        s, examples = self.settings, list(examples)
        result = PhaseResult(examples=len(examples), steps=s.steps_for(len(examples)) if examples else 0)
        if not examples:
            return result
        started = time.perf_counter()
        params = [p for p in self._peft.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=s.lr, weight_decay=0.0)
        rng = np.random.default_rng(s.seed)
        batches = _batches(len(examples), s.batch_size, result.steps, rng)
        self._peft.train()
        for step, batch in enumerate(batches):
            loss = self._loss([examples[i] for i in batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            norm = torch.nn.utils.clip_grad_norm_(params, 1.0)
            if not (torch.isfinite(loss) and torch.isfinite(norm)):  # one such step would make every weight NaN
                raise FloatingPointError(f"LoRA phase: non-finite loss or gradient at step {step + 1} of "
                                         f"{len(batches)} (loss {float(loss):.4g}); no adapter is kept")
            optimizer.step()
            result.losses.append(float(loss.detach()))
        self._peft.eval()
        result.wall_s = time.perf_counter() - started
        return result

    def _loss(self, batch: Sequence[TrainExample]):
        import torch
        import torch.nn.functional as F

        gold_ll, alt_ll, gold_nll, _ = self._scores(batch)
        # Questions with fewer alternatives than the batch's widest are padded with NaN. The pads are masked
        # out *before* the softplus: masking after it (nan_to_num) zeroes the value but not the gradient,
        # which comes back NaN through the pad and poisons every weight (3- and 5-option ARC questions did).
        real = ~alt_ll.isnan()
        margin = torch.where(real, gold_ll[:, None] - alt_ll.nan_to_num(0.0), torch.zeros_like(alt_ll))
        pair = F.softplus(-margin) * real
        return gold_nll + self.settings.pairwise_weight * pair.sum() / real.sum().clamp(min=1)

    def _scores(self, batch: Sequence[TrainExample]):
        """(mean ll of gold [B], mean ll of alternatives [B, k] (NaN pad), token-mean NLL of the golds, gold tokens)."""
        import torch

        splits = build_prompts([ex.item for ex in batch], self.fmt)
        tokenized = self._tokenize(splits)
        rows = [(p, [cs[ex.gold]] + [cs[a] for a in ex.alternatives]) for (p, cs), ex in zip(tokenized, batch)]
        packed = pack_tree(rows, self._pad_id(), next(self._model.parameters()).dtype).to(self.device)
        lp, _ = option_logprobs(self._model, packed, self._logprobs)
        mean = lp / packed.lens.double()
        k = max(len(ex.alternatives) for ex in batch)
        alt = torch.full((len(batch), k), float("nan"), dtype=torch.float64, device=self.device)
        starts, at = [], 0
        for r, ex in enumerate(batch):
            starts.append(at)
            n = len(ex.alternatives)
            if n:
                alt[r, :n] = mean[at + 1 : at + 1 + n]
            at += 1 + n
        starts_t = torch.tensor(starts, device=self.device)
        tokens = int(packed.lens[starts_t].sum())
        return mean[starts_t], alt, -lp[starts_t].sum() / tokens, tokens

    # ---- reading the model --------------------------------------------------------------------
    def evaluate(self, examples: Sequence[TrainExample], batch_size: int = 16) -> dict[str, float]:
        """Mean gold NLL (per token) and mean pairwise margin ll(gold) - ll(alternative) under the current adapter."""
        import torch

        self.ensure_loaded()
        nll, margins, tokens = 0.0, [], 0
        with torch.inference_mode():
            for a in range(0, len(examples), batch_size):
                batch = list(examples[a : a + batch_size])
                gold_ll, alt_ll, batch_nll, n_tok = self._scores(batch)
                nll += float(batch_nll) * n_tok
                tokens += n_tok
                m = gold_ll[:, None] - alt_ll
                margins += m[~m.isnan()].tolist()
        return {"nll": nll / max(tokens, 1), "margin": float(np.mean(margins)) if margins else 0.0}

    def option_logprobs(self, items: Sequence[MCItem]) -> list[np.ndarray]:
        """Summed log-prob of every option of each item (float64 [k] per item) under the current adapter."""
        import torch

        self.ensure_loaded()
        tokenized = self._tokenize(build_prompts(items, self.fmt))
        with torch.inference_mode():
            packed = pack_tree(tokenized, self._pad_id(), next(self._model.parameters()).dtype).to(self.device)
            lp, _ = option_logprobs(self._model, packed, self._logprobs)
        lp = lp.cpu().numpy()
        out, at = [], 0
        for _, cs in tokenized:
            out.append(lp[at : at + len(cs)].copy())
            at += len(cs)
        return out

    def save(self, folder: str | Path, **meta: Any) -> dict[str, Any]:
        """Write the current adapter as a run-directory artefact (stackray.train.adapter); its record."""
        if self._peft is None:
            raise ValueError("no adapter to save: train or load one first")
        record = {"base_fingerprint": self.base_fingerprint, "base_model_id": self.source.model_id,
                  "settings": self.settings.model_dump(mode="json"), **meta}
        return write_adapter(folder, lambda tmp: self._peft.save_pretrained(str(tmp)), record)


def _batches(n: int, batch_size: int, steps: int, rng: np.random.Generator) -> list[np.ndarray]:
    """`steps` batches of example indices: epochs of seeded permutations, cut into batches."""
    out: list[np.ndarray] = []
    while len(out) < steps:
        order = rng.permutation(n)
        out += [order[a : a + batch_size] for a in range(0, n, batch_size)]
    return out[:steps]
