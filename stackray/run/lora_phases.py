"""LoRA phases inside a run: when one is due, what it trains on, and what it changes in the run.

A phase runs after the window in which the paid labels cross a multiple of `lora.every`, and once at
the end of the run when labels were paid since the last one. It:

1. gathers the paid labels (the ledger's answers) with, per round, the follower's hardest
   alternatives under the leader's current theta (the `lora.negatives` highest-scoring valid options
   other than the gold, the same rule the leader's pairs use);
2. trains a fresh adapter on them in the TrainerActor, into the immutable RUN_DIR/adapters/vNNNN/,
   then publishes a copy as RUN_DIR/adapter/ (what `stackray serve` and plain peft load);
3. switches the scorers to it (hot: no restart) and the feature cache to keys that include its
   content hash, so the pool, the paid rounds and the eval split are featurised again;
4. refits the leader from scratch on the paid labels on the new features (a ridge: cheap), replaying
   the label blocks in the order they were paid, so the game continues on the adapted model.

Crash safety: the phase's state (version, labels it covered, the records) is part of the run's
checkpoint, which is written after the phase. A run resumed from an earlier checkpoint replays the
game exactly (the ledger answers every paid round), reaches the same phase with the same inputs, and
reuses the adapter folder a killed run already finished when its recorded `inputs` hash matches
(else it retrains, deterministically). Labels are never bought by a phase: it reads the ledger only.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from stackray.budget import read_ledger
from stackray.errors import ray_get
from stackray.game.leader import replay_leader
from stackray.game.follower import masked_scores
from stackray.io import DataError, atomic_write_text, restore_dir
from stackray.run import roles
from stackray.train import ADAPTER_DIR, TrainExample, publish_adapter, read_adapter_meta

ADAPTERS_DIR = "adapters"
PHASES_FILE = "lora_phases.json"


def hardest_alternatives(theta: np.ndarray, phi: np.ndarray, mask: np.ndarray, gold: np.ndarray,
                         k: int) -> list[tuple[int, ...]]:
    """Per labelled round, the k valid options other than gold that theta scores highest (hardest first)."""
    scores = masked_scores(theta, phi, mask)
    scores[np.arange(len(gold)), gold] = -np.inf
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return [tuple(int(a) for a in row if np.isfinite(scores[i, a])) for i, row in enumerate(order)]


class LoraPhases:
    """The LoRA side of one run (one strategy: config validation makes sure of that)."""

    def __init__(self, config, run_dir: Path, pool, features, game, max_restarts: int) -> None:
        self.settings = config.lora
        self.config = config
        self.run_dir = Path(run_dir)
        self.pool = pool
        self.features = features
        self.game = game  # the strategy's StrategyGame
        self.max_restarts = max_restarts
        self.version = 0
        self.trained_on = 0  # labels the current adapter was trained on
        self.records: list[dict[str, Any]] = []
        self._actor = None

    # ---- checkpointed state -------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {"version": self.version, "trained_on": self.trained_on, "phases": self.records}

    def restore(self, state: dict[str, Any] | None) -> None:
        """Continue from a checkpoint's LoRA state: score with its adapter version from now on."""
        restore_dir(self.run_dir / ADAPTER_DIR)  # a publish cut between its renames
        if not state or not state["version"]:
            return
        self.version, self.trained_on, self.records = int(state["version"]), int(state["trained_on"]), list(state["phases"])
        folder = self._folder(self.version)
        read_adapter_meta(folder)  # present and intact, or a DataError naming the file
        self.features.switch_adapter(str(folder))

    # ---- phases ------------------------------------------------------------------------------
    def due(self, labels: int, final: bool) -> bool:
        if labels <= self.trained_on:
            return False
        every = self.settings.every
        return final or (every > 0 and labels // every > self.trained_on // every)

    def run(self, played: int) -> dict[str, Any]:
        """One phase (see the module docstring); returns its record."""
        started = time.perf_counter()
        examples = self._examples()
        version = self.version + 1
        folder = self._folder(version)
        inputs = self._inputs_hash(examples)
        record = self._reusable(folder, inputs)
        if record is None:
            meta = {"version": version, "inputs": inputs, "labels": len(examples), "rounds": played}
            record = ray_get(self._trainer().train.remote(examples, str(folder), meta))
        publish_adapter(folder, self.run_dir / ADAPTER_DIR)
        self.features.switch_adapter(str(folder))
        self._refit_leader()
        self.version, self.trained_on = version, len(examples)
        row = {"version": version, "labels": len(examples), "rounds": played, "loss": record["loss"],
               "steps": record["steps"], "train_wall_s": record["wall_s"],
               "adapter_fingerprint": record["adapter_fingerprint"],
               "phase_wall_s": round(time.perf_counter() - started, 3)}
        self.records.append(row)
        atomic_write_text(self.run_dir / PHASES_FILE, json.dumps(self.records, indent=1) + "\n")
        return row

    def _folder(self, version: int) -> Path:
        return self.run_dir / ADAPTERS_DIR / f"v{version:04d}"

    def _paid(self) -> tuple[np.ndarray, np.ndarray]:
        """(rounds, gold answers) of every paid label, rounds in the order the game paid them."""
        answers = {e.round: e.answer for e in read_ledger(self.game.folder / "ledger.jsonl")}
        paid_at = self.game.game.paid_at
        rounds = np.array(sorted(answers, key=lambda t: (paid_at[t], t)), dtype=np.int64)
        return rounds, np.array([answers[int(t)] for t in rounds], dtype=np.int64)

    def _examples(self) -> list[TrainExample]:
        rounds, gold = self._paid()
        if rounds.size == 0:
            return []
        phi, mask = self.features.take("pool", rounds)
        alternatives = hardest_alternatives(self.game.leader.theta, phi, mask, gold, self.settings.negatives)
        return [TrainExample(self.pool[int(t)], int(g), alts) for t, g, alts in zip(rounds, gold, alternatives)]

    def _inputs_hash(self, examples: list[TrainExample]) -> str:
        doc = {"examples": [[ex.item.id, ex.gold, list(ex.alternatives)] for ex in examples],
               "settings": self.settings.model_dump(mode="json"), "model": self.config.scoring.model,
               "format": self.config.scoring.format}
        return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()

    def _reusable(self, folder: Path, inputs: str) -> dict[str, Any] | None:
        """The record of an adapter a killed run finished for these very inputs, else None."""
        if not folder.exists():
            return None
        try:
            record = read_adapter_meta(folder)
        except DataError:
            return None  # damaged: retrain (deterministic) over it
        return record if record.get("inputs") == inputs else None

    def _trainer(self):
        if self._actor is None:
            self._actor = roles.start("trainer", self.settings.model_dump(mode="json"), self.config.scoring.model,
                                      self.config.scoring.format, max_restarts=self.max_restarts,
                                      resources=roles.trainer_resources())
        return self._actor

    def _refit_leader(self) -> None:
        """The leader from scratch on the new features: the paid labels' blocks replayed in paid order."""
        rounds, gold = self._paid()
        phi, mask = self.features.take("pool", rounds)
        leader = replay_leader(phi, mask, gold, self.game.game.paid_at[rounds], self.game.config)
        self.game.leader.load_state_dict(leader.state_dict())

    def close(self) -> None:
        if self._actor is not None:
            import ray

            ray.kill(self._actor)
            self._actor = None
