"""TrainerActor: runs LoRA phases on the paid labels and writes each adapter into the run directory.

A plain class around `stackray.train.LoraTrainer` (the base model is loaded once, on the first phase,
and kept); the role table (stackray.run.roles) makes it a Ray actor. It reserves no CPU: a phase runs
while the driver waits for it and the scorers are idle, and a reservation would hold the CPUs the
scorers were given; its torch threads are set explicitly (`lora.threads`, default: this node's CPUs).
With a GPU in the cluster the table gives it one and it trains there.

Restarts: a phase is a pure function of its examples and settings (a fresh, seeded adapter each
time) and the adapter folder is written whole or not at all, so Ray may simply rerun a call that a
dying replica did not finish.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence


class TrainerActor:
    def __init__(self, settings: dict, model: str | None, fmt: str) -> None:
        from stackray.train import LoraSettings, LoraTrainer

        self.trainer = LoraTrainer(LoraSettings(**settings), model, fmt)
        self.phases = 0

    def base_fingerprint(self) -> str:
        return self.trainer.base_fingerprint

    def train(self, examples: Sequence, folder: str, meta: dict[str, Any]) -> dict[str, Any]:
        """Train a fresh adapter on `examples` and write it to `folder`; its stackray record."""
        phase = self.trainer.train(examples)
        self.phases += 1
        return self.trainer.save(Path(folder), **meta, loss=phase.loss, steps=phase.steps, examples=phase.examples,
                                 wall_s=round(phase.wall_s, 3), losses=phase.losses)
