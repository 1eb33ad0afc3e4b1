"""The transformers backend: scores every candidate of a batch of questions with prompt sharing.

Two modes compute the same numbers (the equivalence is tested to 1e-4 on the real model):

``shared`` (default): *tree packing*. Each question becomes one row ``prompt + c_1 + ... + c_K``
(every option's tokens after the prompt's, once), and a 4-D attention mask makes the row behave
like K separate sequences that share a prefix: prompt tokens attend causally to the prompt;
option k's tokens attend to the whole prompt and causally to option k's own earlier tokens, never
to another option. Position ids restart at the prompt's length for every option, so option k sees
exactly the positions it would have in ``prompt + c_k``. The prompt's forward work is done once
instead of K times, in a single forward pass per batch (no second pass on a cached prefix), and
rows of similar length are batched across questions (sorted by packed length, so little padding).
Measured against the alternative of a KV-cache prefix pass followed by all (question, option)
continuations on the gathered cache, the packed pass was ~1.5x faster on this CPU: it has no
padding of short options to the batch's longest option and one forward instead of two. The
first token of every option is predicted by the prompt's last position; the LM head runs only on
the positions whose next-token log-prob is needed (it is ~20% of this model's compute). The
custom mask needs an attention implementation that takes an explicit mask (``sdpa`` or
``eager``; the loader asks for ``sdpa``).

``naive``: one full sequence ``prompt + c_k`` per candidate, right-padded, batched over
sequences; ``batch_size=1`` is the plain loop that the benchmark compares against.

Tokenisation boundary: prompt and continuation are tokenised separately (the prompt with the
tokeniser's special tokens, e.g. a BOS, the continuation without) and the ids concatenated, so
both modes see identical token ids (`tokenize_split`). A prompt longer than the budget
(``max_length`` minus its longest continuation) is cut from the left, keeping the question's end
and the answer cue; a continuation is capped at half of ``max_length``.

Hidden states are the base model's final (post-norm) output, the input of the LM head.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from stackray.scoring.base import BaseScorer, CandidateScores
from stackray.scoring.models import ModelSource, hf_folder, resolve_model
from stackray.scoring.packing import TokenizedSplit, option_logprobs, pack_tree
from stackray.scoring.prompts import PromptSplit

MODES = ("shared", "naive")
_DTYPES = ("float32", "bfloat16", "float16")
_LOGSOFTMAX_ROWS = 512  # rows of [rows, vocab] log-softmax per chunk (bounds peak memory)
_MAX_BATCH_TOKENS = 8192  # padded packed tokens per shared batch (bounds activations and the mask)


def available_cpus() -> int:
    """CPUs this process may run on (the affinity mask, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class TransformersScorer(BaseScorer):
    """`BaseScorer` on a Hugging Face causal LM (CPU by default, CUDA if asked or 'auto').

    ``model`` is None (the bundled SmolLM2 GGUF), a hub id, a folder, a .gguf file, or an already
    built `PreTrainedModel` (then ``tokenizer`` must be given too; used by fast unit tests with a
    tiny random model). ``mode`` ("shared" or "naive") is a plain attribute and may be switched on a
    loaded scorer (the benchmark does). ``batch_size`` counts questions per packed forward in
    shared mode and sequences per forward in naive mode. ``device``: "cpu" (default), "cuda" or
    "auto"; on CPU torch uses ``num_threads`` (default: every CPU in this process's affinity mask).
    """

    backend = "transformers"

    def __init__(
        self,
        model: Any = None,
        adapter: str | os.PathLike | None = None,
        *,
        tokenizer: Any = None,
        mode: str = "shared",
        device: str | None = None,
        num_threads: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(model, adapter, **kwargs)
        if mode not in MODES:
            raise ValueError(f"unknown scoring mode {mode!r}; expected one of {', '.join(MODES)}")
        if self.dtype not in _DTYPES:
            raise ValueError(f"unknown dtype {self.dtype!r}; expected one of {', '.join(_DTYPES)}")
        self.mode = mode
        self.device = device or "cpu"
        self.num_threads = num_threads
        self._model = None
        self._tokenizer = tokenizer if not isinstance(tokenizer, (str, os.PathLike)) else None
        self._tokenizer_path = str(tokenizer) if isinstance(tokenizer, (str, os.PathLike)) else None
        self._source: ModelSource | None = None
        self._object = None
        self._config_hidden: int | None = None
        self._base_state: dict | None = None  # the base weights, kept once an adapter is merged or swapped
        if isinstance(model, (str, os.PathLike)) or model is None:
            self._source = resolve_model(model)
        elif hasattr(model, "config") and hasattr(model, "get_output_embeddings"):
            if tokenizer is None:
                raise ValueError("a model object needs its tokenizer: pass tokenizer=...")
            self._object = model
        else:
            raise ValueError(f"model must be None, a hub id, a path or a PreTrainedModel, got {type(model).__name__}")

    # ---- identity ---------------------------------------------------------------------------
    @property
    def model_id(self) -> str:
        if self._source is not None:
            return self._source.model_id
        return f"in-memory:{self._object.config.model_type}"

    def _model_fingerprint(self) -> str:
        if self._source is not None:
            return self._source.fingerprint()
        digest = hashlib.sha256(self._object.config.to_json_string().encode())
        for name, tensor in sorted(self._object.state_dict().items()):
            digest.update(name.encode())
            digest.update(tensor.detach().float().cpu().numpy().tobytes())
        return "object:" + digest.hexdigest()

    def _hidden_size(self) -> int:
        if self._object is not None:
            return int(self._object.config.hidden_size)
        if self._model is not None:
            return int(self._model.config.hidden_size)
        if self._config_hidden is None:
            self._config_hidden = self._source.hidden_size()
        return self._config_hidden

    # ---- loading ----------------------------------------------------------------------------
    @property
    def model_loaded(self) -> bool:
        return self._model is not None

    def _load(self) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if self.device == "auto":
            self.device = "cuda" if torch.cuda.is_available() else "cpu"
        if self.device == "cpu":
            torch.set_num_threads(self.num_threads or available_cpus())
        if self._object is not None:
            model = self._object
        else:
            location = hf_folder(self._source)  # a GGUF's converted copy: a load in under a second, not ~35 s
            model = AutoModelForCausalLM.from_pretrained(location, attn_implementation="sdpa", trust_remote_code=False)
            if self._tokenizer is None:
                self._tokenizer = AutoTokenizer.from_pretrained(self._tokenizer_path or location, trust_remote_code=False)
        self._model = model.to(device=self.device, dtype=getattr(torch, self.dtype)).eval()
        if self.adapter is not None:
            self._merge_adapter()

    def _reload_adapter(self) -> None:
        """Hot reload: restore the base weights from their in-memory copy and merge `self.adapter` (if any).

        The copy is taken the first time it is needed, while the weights are still the base's (a
        model loaded with an adapter takes it before merging), so no reload from disk is ever needed.
        """
        if self._base_state is None:
            self._base_state = {k: v.detach().clone() for k, v in self._model.state_dict().items()}
        self._model.load_state_dict(self._base_state)
        if self.adapter is not None:
            self._merge_adapter()

    def _merge_adapter(self) -> None:
        from peft import PeftModel

        if self._base_state is None:
            self._base_state = {k: v.detach().clone() for k, v in self._model.state_dict().items()}
        self._model = PeftModel.from_pretrained(self._model, self.adapter).merge_and_unload().eval()

    def generator(self) -> tuple[Any, Any]:
        """(causal LM, tokenizer) with the weights loaded: the server generates text with the very model it scores with."""
        self.ensure_loaded()
        return self._model, self._tokenizer

    # ---- tokenisation -----------------------------------------------------------------------
    def tokenize_split(self, split: PromptSplit) -> TokenizedSplit:
        """(prompt ids, [continuation ids]) for one split; see the module docstring for the boundary."""
        return self._tokenize([split])[0]

    def _tokenize(self, splits: Sequence[PromptSplit]) -> list[TokenizedSplit]:
        tok = self._tokenizer
        prompts = tok([s.prompt for s in splits], add_special_tokens=True)["input_ids"]
        flat = [c for s in splits for c in s.continuations]
        conts = tok(flat, add_special_tokens=False)["input_ids"] if flat else []
        out: list[TokenizedSplit] = []
        at = 0
        cont_cap = self.max_length // 2
        for s, p in zip(splits, prompts):
            cs = [list(c[:cont_cap]) for c in conts[at : at + len(s.continuations)]]
            at += len(s.continuations)
            if any(len(c) == 0 for c in cs):
                raise ValueError(f"a continuation of prompt {s.prompt[:60]!r} tokenised to zero tokens")
            budget = self.max_length - max(len(c) for c in cs)
            out.append((list(p[-budget:]), cs))
        return out

    # ---- scoring ----------------------------------------------------------------------------
    def _score_splits(
        self, splits: Sequence[PromptSplit], *, batch_size: int, on_done: Callable[[int], None]
    ) -> list[CandidateScores]:
        import torch

        tokenized = self._tokenize(splits)
        results: list[CandidateScores | None] = [None] * len(splits)
        with torch.inference_mode():
            if self.mode == "shared":
                attn = getattr(self._model.config, "_attn_implementation", "sdpa")
                if attn not in ("sdpa", "eager"):
                    raise ValueError(f"mode='shared' needs attention 'sdpa' or 'eager' (a 4-D mask), got {attn!r}")
                # Longest packed rows first: similar lengths share a batch (less padding) and an
                # out-of-memory error, if any, comes at the start.
                order = sorted(range(len(splits)), key=lambda i: -_packed_len(tokenized[i]))
                for batch in _batches(order, tokenized, batch_size):
                    for i, sc in zip(batch, self._shared_batch([tokenized[i] for i in batch])):
                        results[i] = sc
                    on_done(len(batch))
            else:
                pairs = [(i, j) for i, (_, cs) in enumerate(tokenized) for j in range(len(cs))]
                sums: list[list[Any]] = [[None] * len(cs) for _, cs in tokenized]
                hids: list[list[Any]] = [[None] * len(cs) for _, cs in tokenized]
                remaining = [len(cs) for _, cs in tokenized]
                for start in range(0, len(pairs), batch_size):
                    chunk = pairs[start : start + batch_size]
                    seqs = [(tokenized[i][0], tokenized[i][1][j]) for i, j in chunk]
                    lp, pooled = self._naive_batch(seqs)
                    finished = 0
                    for (i, j), s, h in zip(chunk, lp, pooled):
                        sums[i][j], hids[i][j] = s, h
                        remaining[i] -= 1
                        finished += remaining[i] == 0
                    if finished:
                        on_done(finished)
                for i, (_, cs) in enumerate(tokenized):
                    results[i] = CandidateScores(
                        np.array(sums[i], dtype=np.float64),
                        np.array([len(c) for c in cs], dtype=np.int64),
                        np.stack(hids[i]).astype(np.float32),
                    )
        return results  # type: ignore[return-value]

    def _logprobs(self, hidden, targets):
        """log p(target | hidden) for rows of final hidden states, float32, chunked over rows."""
        import torch

        head = self._model.get_output_embeddings()
        cap = getattr(self._model.config, "final_logit_softcapping", None)
        out = []
        for start in range(0, hidden.shape[0], _LOGSOFTMAX_ROWS):
            logits = head(hidden[start : start + _LOGSOFTMAX_ROWS]).float()
            if cap:
                logits = torch.tanh(logits / cap) * cap
            tgt = targets[start : start + _LOGSOFTMAX_ROWS, None]
            out.append(torch.log_softmax(logits, dim=-1).gather(1, tgt)[:, 0])
        return torch.cat(out) if out else hidden.new_zeros(0, dtype=torch.float32)

    def _pad_id(self) -> int:
        tok = self._tokenizer
        for cand in (tok.pad_token_id, tok.eos_token_id, 0):
            if cand is not None:
                return int(cand)
        return 0

    def _shared_batch(self, batch: Sequence[TokenizedSplit]) -> list[CandidateScores]:
        """Tree-packed forward of a batch of questions (see the module docstring)."""
        import torch

        dtype = next(self._model.parameters()).dtype
        packed = pack_tree(batch, self._pad_id(), dtype).to(self.device)
        lp, hid = option_logprobs(self._model, packed, self._logprobs)
        picked = hid[packed.pool_row, packed.pool_at].float()
        pooled = torch.zeros((packed.n_pairs, hid.shape[-1]), device=hid.device).index_add_(0, packed.pair_of, picked)
        pooled /= packed.lens[:, None]
        return _split_rows(batch, lp.cpu().numpy(), packed.lens.cpu().numpy(), pooled.cpu().numpy())

    def _naive_batch(self, seqs: Sequence[tuple[list[int], list[int]]]) -> tuple[np.ndarray, np.ndarray]:
        import torch

        dev, pad = self.device, self._pad_id()
        base = self._model.base_model  # the decoder stack without the LM head
        full = [p + c for p, c in seqs]
        width = max(len(s) for s in full)
        ids = torch.full((len(full), width), pad, dtype=torch.long, device=dev)
        mask = torch.zeros_like(ids)
        for r, s in enumerate(full):
            ids[r, : len(s)] = torch.tensor(s, device=dev)
            mask[r, : len(s)] = 1
        hid = base(input_ids=ids, attention_mask=mask, use_cache=False).last_hidden_state
        rows, pred_at, targets, pool_at = [], [], [], []
        for r, (p, c) in enumerate(seqs):
            for j in range(len(c)):
                rows.append(r)
                pred_at.append(len(p) - 1 + j)
                targets.append(c[j])
                pool_at.append(len(p) + j)
        rows_t = torch.tensor(rows, device=dev)
        tok_lp = self._logprobs(hid[rows_t, torch.tensor(pred_at, device=dev)], torch.tensor(targets, device=dev))
        lp = torch.zeros(len(seqs), dtype=torch.float64, device=dev).index_add_(0, rows_t, tok_lp.double())
        pooled = torch.zeros((len(seqs), hid.shape[-1]), dtype=torch.float32, device=dev)
        pooled.index_add_(0, rows_t, hid[rows_t, torch.tensor(pool_at, device=dev)].float())
        pooled /= torch.tensor([len(c) for _, c in seqs], device=dev)[:, None]
        return lp.cpu().numpy(), pooled.cpu().numpy()


def _packed_len(split: TokenizedSplit) -> int:
    return len(split[0]) + sum(len(c) for c in split[1])


def _batches(order: list[int], tokenized: Sequence[TokenizedSplit], batch_size: int):
    """Consecutive groups of ``order`` with at most batch_size questions and a padded-token cap."""
    batch: list[int] = []
    width = 0
    for i in order:
        plen = _packed_len(tokenized[i])
        if batch and (len(batch) >= batch_size or (len(batch) + 1) * max(width, plen) > _MAX_BATCH_TOKENS):
            yield batch
            batch, width = [], 0
        batch.append(i)
        width = max(width, plen)
    if batch:
        yield batch


def _split_rows(batch, lp, lens, pooled) -> list[CandidateScores]:
    out, at = [], 0
    for _, cs in batch:
        k = len(cs)
        out.append(CandidateScores(lp[at : at + k].astype(np.float64), lens[at : at + k].astype(np.int64), pooled[at : at + k]))
        at += k
    return out

