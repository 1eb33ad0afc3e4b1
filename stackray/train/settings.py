"""The `lora:` section of a run config: what a LoRA phase trains, how long, and when it runs.

It lives next to the trainer (which reads it) and is used as the run config's `lora:` section as it
is (stackray.run.config): strict, frozen, unknown keys refused, like every other section.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

# Tied embeddings: lm_head *is* embed_tokens, so training either trains (and, when merged, can lose)
# the vocabulary matrix; a LoRA here adapts the attention projections only.
FORBIDDEN_TARGETS = ("lm_head", "embed_tokens")


def _as_tuple(value: Any) -> Any:
    if isinstance(value, str):
        return (value,)
    return tuple(value) if isinstance(value, list) else value


class LoraSettings(BaseModel):
    """enabled: run LoRA phases at all (off by default: it must earn its place, docs/results.md).
    every: a phase after every `every` paid labels, and one at the end of the run (0: only at the end).
    rank/alpha/dropout/targets: the peft LoraConfig. lr, epochs, batch_size, max_steps: AdamW over the
    paid labels (a phase trains a fresh adapter on every label paid so far, so it depends only on them).
    pairwise_weight: weight of the softplus term on the mean log-likelihood margin of the gold answer
    over the `negatives` hardest alternatives. threads: torch CPU threads of the trainer. max_length:
    token cap per packed question."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    enabled: bool = False
    every: Annotated[int, Field(ge=0)] = 32
    rank: Annotated[int, Field(ge=1)] = 8
    alpha: Annotated[float, Field(gt=0)] = 16.0
    dropout: Annotated[float, Field(ge=0, lt=1)] = 0.0
    targets: Annotated[tuple[str, ...], BeforeValidator(_as_tuple), Field(min_length=1)] = (
        "q_proj", "k_proj", "v_proj", "o_proj")
    lr: Annotated[float, Field(gt=0, le=1)] = 2e-4
    epochs: Annotated[int, Field(ge=1)] = 2
    batch_size: Annotated[int, Field(ge=1)] = 8
    max_steps: Annotated[int, Field(ge=1)] | None = None
    pairwise_weight: Annotated[float, Field(ge=0)] = 1.0
    negatives: Annotated[int, Field(ge=1)] = 3
    seed: int = 0
    threads: Annotated[int, Field(ge=1)] | None = None
    max_length: Annotated[int, Field(ge=16)] = 256

    @field_validator("targets")
    @classmethod
    def _projections_only(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [t for t in value if t in FORBIDDEN_TARGETS]
        if bad:
            raise ValueError(f"{bad[0]} is tied to the input embeddings in this model; target projection "
                             f"layers such as q_proj, k_proj, v_proj, o_proj")
        return value

    def steps_for(self, n_examples: int) -> int:
        """Optimizer steps of a phase on `n_examples` labels: epochs x batches, capped by max_steps."""
        steps = self.epochs * -(-n_examples // self.batch_size)
        return min(steps, self.max_steps) if self.max_steps is not None else steps
