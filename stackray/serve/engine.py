"""One served run in memory: its model (base, plus the adapter merged in) scoring questions and generating text.

Scoring goes through the project's scorer (`stackray.scoring.load_scorer` with the run's own scoring
settings: model, adapter, d_h, dtype; seed and max_length at the defaults the run used too), so a served question gets exactly the features the run learned on, and the game's own
functions turn them into the answer: `assess` gives the choice (argmax of theta^T phi, what `predict`
does offline), the follower's alternative, the margin, the confidence width and whether the gate would
pay for a label (margin < c * width and width >= tau). Generation uses the same loaded weights.

Two backends, one per replica (`ServeConfig.backend`): transformers (CPU, or CUDA with num_gpus), or vLLM
(a GPU where vLLM is installed; "auto" picks it there). With vLLM the scorer's own generate engine also
generates text (`stackray.serve.vllm_generation`), so a replica holds the weights once per engine, and the
served head reads vLLM's features, which equal the transformers backend's within 1e-3
(tests/scoring/test_vllm_backend.py).
"""

from __future__ import annotations

import importlib.util
from typing import Any, Sequence

import numpy as np

from stackray.scoring import load_scorer
from stackray.data import option_mask
from stackray.data.items import MCItem
from stackray.game.follower import assess
from stackray.game.leader import LeaderSnapshot
from stackray.serve.artifacts import ServedRun
from stackray.serve.textgen import Generation, SamplingParams, chat_prompt, prompt_ids
from stackray.serve.vllm_generation import VLLMGeneration

SCORE_BATCH = 16  # questions per packed forward


def resolve_backend(backend: str, num_gpus: float) -> str:
    """The backend a replica uses: "auto" is vLLM on a GPU where vLLM imports, else transformers. Run inside
    the replica, so a cluster's GPU workers decide by their own environment; an explicit "vllm" that does not
    import is an error that says how to install it."""
    has_vllm = importlib.util.find_spec("vllm") is not None
    if backend == "auto":
        return "vllm" if num_gpus > 0 and has_vllm else "transformers"
    if backend == "vllm" and not has_vllm:
        raise ValueError("--backend vllm: vLLM is not installed in this environment "
                         "(pip install -e '.[gpu]' on a GPU machine; scripts/vllm_env.sh on a CPU)")
    return backend


class ModelEngine:
    """A run's model, loaded now (a replica loads it when the model id is first asked for)."""

    def __init__(self, run: ServedRun, threads: int | None = None, device: str = "cpu",
                 backend: str = "transformers") -> None:
        self.run = run
        self.backend = backend
        if backend == "vllm":
            self.scorer = load_scorer("vllm", run.model, run.adapter, d_h=run.d_h, dtype=run.dtype)
        else:
            self.scorer = load_scorer("transformers", run.model, run.adapter, d_h=run.d_h, dtype=run.dtype,
                                      batch_size=SCORE_BATCH, num_threads=threads, device=device)
        self.scorer.neutral_memo = {}  # an option's log p(y | neutral prompt) is the same in every request
        self.model, self.tokenizer = self.scorer.generator()
        if len(self.scorer.feature_names) != run.theta.shape[0]:
            raise ValueError(f"{run.run_dir}: the served head has {run.theta.shape[0]} weights but the scorer makes "
                             f"{len(self.scorer.feature_names)} features; the run's scoring settings changed?")

    def features(self, questions: Sequence[dict]) -> tuple[np.ndarray, np.ndarray]:
        """(phi float64 [N, K, d], mask [N, K]) of questions {"question", "options"} in the run's format."""
        items = [MCItem(id=str(i), question=q["question"], options=tuple(q["options"])) for i, q in enumerate(questions)]
        return self.scorer.featurize(items, self.run.fmt).astype(np.float64), option_mask(items)

    def score(self, questions: Sequence[dict]) -> list[dict]:
        """Per question: scores and probabilities per option, the choice, margin, width and the gate's call."""
        phi, mask = self.features(questions)
        run = self.run
        snap = LeaderSnapshot(theta=run.theta, A_inv=run.A_inv, version=0)
        found = assess(snap, phi, mask, alpha=run.alpha, c=run.c, tau=run.tau)
        out = []
        for i, q in enumerate(questions):
            k = len(q["options"])
            scores = phi[i, :k] @ run.theta
            probs = np.exp(scores - scores.max())
            probs /= probs.sum()
            choice = int(found.prediction[i])
            out.append({"id": q.get("id"), "choice": choice, "choice_text": q["options"][choice],
                        "scores": scores.tolist(), "probs": probs.tolist(), "alternative": int(found.alternative[i]),
                        "margin": float(found.margin[i]), "width": float(found.width[i]),
                        "would_ask_label": bool(found.uncertain[i])})
        return out

    def generation(self, request: dict) -> Generation | VLLMGeneration:
        """A `Generation` for a validated chat ("messages") or completion ("prompt") request."""
        chat = "messages" in request
        text = chat_prompt(self.tokenizer, request["messages"]) if chat else request["prompt"]
        params = SamplingParams(max_tokens=request["max_tokens"], temperature=request["temperature"],
                                top_p=request["top_p"], stop=tuple(request["stop"]), seed=request["seed"])
        ids = prompt_ids(self.tokenizer, text, chat=chat)
        context = self.context_tokens()
        if context and len(ids) + params.max_tokens > context:
            raise ValueError(f"the prompt has {len(ids)} tokens; with max_tokens {params.max_tokens} it exceeds the "
                             f"model's context of {context} tokens")
        if self.backend == "vllm":
            return VLLMGeneration(self.model, ids, params)
        return Generation(self.model, self.tokenizer, ids, params)

    def context_tokens(self) -> int:
        """Prompt plus completion tokens one request may use (0: unknown): the vLLM engine's max_model_len, or
        the transformers model's position embeddings."""
        if self.backend == "vllm":
            return int(self.model.llm_engine.model_config.max_model_len)
        return int(getattr(self.model.config, "max_position_embeddings", 0) or 0)

    def info(self) -> dict[str, Any]:
        return {"model_id": self.run.model_id, "scorer": self.scorer.model_id, "adapter": self.run.adapter,
                "backend": self.backend}
