"""The run driver: every strategy of a config played window by window on Ray, checkpointed, reported.

One loop over the pool's windows. For window k it takes the window's features (the scorers are
already featurising k+1.. in the background), steps every strategy's `Game` on them (the strategies
share features and followers; each has its own leader, budget coordinator and ledger), measures the
held-out accuracy every `eval_every` windows, and writes an atomic checkpoint. `--resume` loads the
newest checkpoint and continues: the game replays exactly (float64 state in safetensors, the gate's
state and RNG in JSON, features from the cache) and the ledger answers every round already paid for,
so a run killed with SIGKILL ends with the same theta, ledger and metrics as one never interrupted.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable

import numpy as np
import ray

from stackray.actors import GoldOracleSpec, HumanOracleSpec, OracleSpec
from stackray.budget import LabelTimeoutError, read_ledger
from stackray.data import gold_array, items_hash
from stackray.errors import install_signal_handlers, signal_handlers_installed
from stackray.game import predict
from stackray.progress import progress_bar
from stackray.run import report
from stackray.run.config import RaySection, RunConfig, config_from_dict, load_config
from stackray.run.config_io import settle_config
from stackray.run.features import FeatureSource
from stackray.run.integrity import open_run_dir
from stackray.run.lora_phases import LoraPhases
from stackray.run.layout import save_arrays, save_checkpoint, strategy_dir
from stackray.run.ray_game import StrategyGame, start_followers, start_strategy
from stackray.run.served_head import guard

CONFIG_FILE = "config.yaml"
HEADS_FILE = "heads.safetensors"

# on_window(stage, window): stage "stepped" (labels paid, not yet checkpointed) or "checkpointed".
WindowHook = Callable[[str, int], None]


def init_ray(cfg: RaySection) -> bool:
    """Connect to a cluster (ray.address, else RAY_ADDRESS as set by `ray job submit`) or start an
    embedded local Ray without a dashboard and with a small object store. True when this call started it."""
    if ray.is_initialized():
        return False
    guarded = signal_handlers_installed()
    address = cfg.address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address)
    else:
        ray.init(num_cpus=cfg.num_cpus, include_dashboard=False, object_store_memory=cfg.object_store_mb * 2**20,
                 log_to_driver=False)
    if guarded:  # Ray's core worker took SIGTERM over (a C++ stack dump on kill): take it back
        install_signal_handlers()
    return True


def run_config(run_dir: Path, config: RunConfig | None, resume: bool, what: str) -> RunConfig:
    """The config a run directory plays (`settle_config`); a new run's data is fetched and checked first,
    so a bad data spec leaves no run directory."""
    return settle_config(run_dir, CONFIG_FILE, load_config, config, resume, what="run", command="stackray run",
                         header=what, prepare=None if config is None else config.items)


def play_order(n: int, order: int) -> np.ndarray:
    """The permutation in which the game plays an n-item pool: order 0 as selected, order k > 0 seeded by k."""
    return np.arange(n) if order == 0 else np.random.default_rng([order, n]).permutation(n)


def new_run_dir(config: RunConfig, root: str | Path = "runs") -> Path:
    return Path(root) / f"{config.name}-{time.strftime('%Y%m%d-%H%M%S')}"


class ActiveRun:
    """A run directory and the actors that play it. `run()` plays to the end and returns the summary."""

    def __init__(self, config: RunConfig | None, run_dir: str | Path, *, resume: bool = False, progress: bool | None = None) -> None:
        # Absolute, so summary.json, the resume hint and the stored config name it from anywhere.
        self.run_dir = Path(run_dir).expanduser().resolve()
        self.config = run_config(self.run_dir, config, resume, "the config of this run")
        self.resume = resume
        self.progress = config.run.progress if progress is None else progress
        self.games: dict[str, StrategyGame] = {}
        self.metrics: list[dict] = []
        self.features: FeatureSource | None = None
        self.lora: LoraPhases | None = None

    # ---- setup --------------------------------------------------------------------------------------
    def _load_data(self) -> None:
        """The pool and eval items, as checked when the config was loaded (stackray.run.config_data).
        `self.pool` is the pool in the order the game plays it (data.order); `self.stored` as selected."""
        self.stored, self.eval = self.config.items()
        self.pool_order = play_order(len(self.stored), self.config.data.order)
        self.pool = [self.stored[i] for i in self.pool_order]

    def _oracle(self) -> OracleSpec:
        o = self.config.oracle
        if o.kind == "human":
            return HumanOracleSpec(tuple(self.pool), timeout=o.timeout, poll=o.poll)
        missing = [it.id for it in self.pool if it.answer is None]
        if missing:
            raise ValueError(f"{self.config.source}: oracle.kind gold needs gold answers; pool item {missing[0]!r} has none")
        return GoldOracleSpec(tuple(it.answer for it in self.pool))

    def _start(self) -> None:
        c = self.config
        self.features = FeatureSource(c.scoring, c.ray, {"pool": self.stored, "eval": self.eval},
                                      orders={"pool": self.pool_order})
        dim = len(self.features.names)
        first = c.game_config(c.strategies[0])
        if not 0 <= first.prior_index < dim:
            raise ValueError(f"{c.source}: game.prior_index {first.prior_index} is not a feature column (d = {dim})")
        self.followers = start_followers(first, c.ray.num_followers, c.ray.max_restarts)  # shared by the strategies
        oracle = self._oracle()
        for s in c.strategies:
            folder = strategy_dir(self.run_dir, s, c.strategies)
            self.games[s] = start_strategy(c.game_config(s), folder, self.pool, oracle, dim, self.followers,
                                           c.ray.max_restarts)
        if c.lora.enabled:  # one strategy (checked with the config)
            self.lora = LoraPhases(c, self.run_dir, self.pool, self.features, self.games[c.strategies[0]],
                                   c.ray.max_restarts)

    def _restore(self) -> int:
        """Load the checkpoint `open_run_dir` checked the ledgers against; return the first window to play."""
        found = self.opened.checkpoint
        if self.lora is not None:
            self.lora.restore(None if found is None else found.meta.get("lora"))
        if found is None:
            self.metrics = []
            report.write_metrics(self.run_dir, self.metrics)
            return 0
        arrays, meta = found.arrays, found.meta
        if meta["pool_hash"] != items_hash(self.pool):
            raise ValueError(f"{self.run_dir}: the checkpoint was written for other pool items (data changed?)")
        for s, g in self.games.items():
            g.game.load_state_dict({k.split("/", 1)[1]: v for k, v in arrays.items() if k.startswith(f"{s}/")},
                                   meta["games"][s])
        self.metrics = list(meta["metrics"])
        report.write_metrics(self.run_dir, self.metrics)
        return int(meta["window"]) + 1

    # ---- the loop -----------------------------------------------------------------------------------
    def run(self, on_window: WindowHook | None = None) -> dict:
        self.opened = open_run_dir(self.run_dir, self.config.strategies, resume=self.resume)  # before any actor
        init_ray(self.config.ray)
        self._load_data()
        try:
            self._start()
            start = self._restore()
            try:
                self._play(start, on_window)
                self._final_lora_phase()
            except LabelTimeoutError as exc:
                raise LabelTimeoutError(f"{exc}; continue with: stackray run --resume {self.run_dir}") from None
            return self._finish()
        finally:
            self.close()

    def _play(self, start: int, on_window: WindowHook | None) -> None:
        W, T = self.config.window, len(self.pool)
        n_windows = -(-T // W)
        feats = self.features
        feats.prefetch("pool", (start + 1 + self.config.ray.prefetch) * W)
        bar = progress_bar(total=n_windows, initial=start, unit="window", disable=not self.progress, dynamic_ncols=True,
                   desc=self.config.name)
        for k in range(start, n_windows):
            a, b = k * W, min(T, (k + 1) * W)
            phi, mask = feats.rows("pool", a, b)
            feats.prefetch("pool", b + self.config.ray.prefetch * W)  # the fleet works ahead while we play
            if len(self.games) > 1:
                self.followers.share(phi, mask)  # into the object store once for every strategy
            for g in self.games.values():
                g.step(phi, mask, lambda rounds: feats.take("pool", rounds))
            if self.lora is not None and self.lora.due(self._labels(), final=False):
                self.lora.run(b)
            if on_window:
                on_window("stepped", k)
            states = {s: g.game.state_dict() for s, g in self.games.items()}
            if (k + 1) % self.config.run.eval_every == 0 or k == n_windows - 1:
                self._evaluate(k, b, states)
            self._checkpoint(k, states)
            if on_window:
                on_window("checkpointed", k)
            bar.set_postfix_str(self._postfix(b), refresh=False)  # update() redraws, as often as the bar allows
            bar.update(1)
        bar.close()

    def _labels(self) -> int:
        return int(sum((g.game.paid_at >= 0).sum() for g in self.games.values()))

    def _final_lora_phase(self) -> None:
        """A last phase on the labels paid since the previous one, checkpointed as the last window again."""
        if self.lora is None or not self.lora.due(self._labels(), final=True):
            return
        T, k = len(self.pool), -(-len(self.pool) // self.config.window) - 1
        self.lora.run(T)
        states = {s: g.game.state_dict() for s, g in self.games.items()}
        self._evaluate(k, T, states)
        self._checkpoint(k, states)

    def _evaluate(self, k: int, rounds: int, states: dict) -> None:
        for s, (arrays, meta) in states.items():
            theta = arrays["leader.theta"]
            row = {"strategy": s, "window": k, "rounds": rounds, "labels_used": int(meta["gate"]["labels"]),
                   "cost_used": float(meta["gate"]["spent"]), "accuracy": self._accuracy(theta)}
            if self.lora is not None:
                row["adapter_version"] = self.lora.version
            self.metrics.append(row)

    def _accuracy(self, theta: np.ndarray) -> float | None:
        if not self.eval:
            return None
        phi, mask = self.features.all("eval")
        return float(np.mean(predict(theta, phi, mask) == gold_array(self.eval)))

    def _checkpoint(self, k: int, states: dict) -> None:
        arrays = {f"{s}/{name}": v for s, (arr, _) in states.items() for name, v in arr.items()}
        meta = {"games": {s: m for s, (_, m) in states.items()}, "metrics": self.metrics,
                "pool_hash": items_hash(self.pool), "played": min(len(self.pool), (k + 1) * self.config.window)}
        if self.lora is not None:
            meta["lora"] = self.lora.state()
        save_checkpoint(self.run_dir, k, arrays, meta)
        report.write_metrics(self.run_dir, self.metrics)

    def _postfix(self, rounds: int) -> str:
        parts = [f"rounds {rounds}/{len(self.pool)}"]
        last = {m["strategy"]: m for m in self.metrics}
        for s, g in self.games.items():
            acc = last.get(s, {}).get("accuracy")
            parts.append(f"{s} {g.gate.mirror.labels}/{g.gate.budget:.0f}" + (f" acc {acc:.3f}" if acc is not None else ""))
        return ", ".join(parts)

    # ---- the end ------------------------------------------------------------------------------------
    def _finish(self) -> dict:
        c = self.config
        prior_index = c.game_config(c.strategies[0]).prior_index
        theta0 = np.zeros(len(self.features.names))
        theta0[prior_index] = 1.0
        lora_doc, prior_pool, acc_0 = self._start_model(theta0, prior_index)
        pool_phi, pool_mask = self.features.all("pool")
        results, heads = {}, {"theta0": theta0}
        for s, g in self.games.items():
            res = g.game.result()
            paid = {e.round: e.answer for e in read_ledger(g.folder / "ledger.jsonl")}
            rounds = np.array(sorted(paid), dtype=np.int64)
            answers = np.array([paid[int(t)] for t in rounds], dtype=np.int64)
            choice = guard(pool_phi, pool_mask, rounds, answers, res.paid_at[rounds], c.game_config(s), c.serve.level,
                           prior=prior_pool[rounds], audited=res.audited[rounds])
            served = res.theta if choice.head == "learned" else theta0
            heads[f"{s}/theta"], heads[f"{s}/served"] = res.theta, served
            acc = self._accuracy(res.theta)
            results[s] = {"labels_used": res.labels_used, "budget": res.budget, "cost_used": res.cost_used,
                          "pairs": res.pairs, "accuracy": acc, "served": choice.head,
                          "served_accuracy": acc if choice.head == "learned" else acc_0, "head_choice": choice.to_dict()}
        rows = report.summary_rows(results, acc_0)
        save_arrays(self.run_dir / HEADS_FILE, heads)
        curve = report.draw_curve(self.run_dir, self.metrics, f"{c.name}: {c.data.pool}, beta = {c.game_config(c.strategies[0]).beta}")
        doc = {"name": c.name, "run_dir": str(self.run_dir), "pool": c.data.pool, "eval": c.data.eval,
               "rounds": len(self.pool), "eval_items": len(self.eval), "zero_shot_accuracy": acc_0, "rows": rows,
               "heads_file": HEADS_FILE, "feature_names": self.features.names,
               "curve": None if curve is None else str(curve),
               "features": {"cache_hits": self.features.hits, "cache_misses": self.features.misses},
               "integrity": self.opened.report()}
        if lora_doc is not None:
            doc["lora"] = lora_doc
        report.write_summary(self.run_dir, doc)
        doc["table"] = report.format_table(rows, acc_0)
        return doc

    def _start_model(self, theta0: np.ndarray, prior_index: int) -> tuple[dict | None, np.ndarray, float | None]:
        """(the LoRA summary, the start's predictions on the pool, the start's held-out accuracy).

        The start is the base model with the zero-shot prior theta0. After LoRA phases the guard
        compares the served model (base + adapter + head) against that start, so its predictions
        are read on the base model's features (cached from before the first phase, or scored again),
        and the features are then switched back to the last adapter."""
        lora = self.lora if self.lora is not None and self.lora.version else None
        lora_alone = self._accuracy(theta0) if lora else None
        if lora:
            adapter = self.features.spec.adapter
            self.features.switch_adapter(None)
        paid = np.nonzero(np.any([g.game.paid_at >= 0 for g in self.games.values()], axis=0))[0]
        prior_pool = np.full(len(self.pool), -1, dtype=np.int64)  # only the paid rounds' are read
        phi, mask = self.features.take("pool", paid)
        prior_pool[paid] = np.where(mask, phi[:, :, prior_index], -np.inf).argmax(axis=1)
        acc_0 = self._accuracy(theta0)
        if not lora:
            return None, prior_pool, acc_0
        self.features.switch_adapter(adapter)
        return ({**lora.state(), "adapter": str(self.run_dir / "adapter"), "lora_alone_accuracy": lora_alone},
                prior_pool, acc_0)

    def close(self) -> None:
        if self.lora is not None:
            self.lora.close()
        for g in self.games.values():
            try:
                g.close()
            except Exception:  # a dead actor has no lock left to release
                pass
        if getattr(self, "followers", None) is not None:
            self.followers.close()
        if self.features is not None:
            self.features.close()
        if getattr(self, "opened", None) is not None:
            self.opened.close()  # the run lock


def run_active(config: str | Path | RunConfig | None, *, run_dir: str | Path | None = None,
               resume: str | Path | None = None, progress: bool | None = None,
               on_window: WindowHook | None = None) -> dict:
    """The library entry point of `stackray run` and jobs/run_active.py: a new run, or `resume` one.

    `config` is a config file's path, or a RunConfig already loaded (loading checks the data, so a
    caller that has loaded it once passes it on instead of loading it again)."""
    if config is not None and not isinstance(config, RunConfig):
        config = load_config(config)
    if resume is not None and run_dir is not None and Path(run_dir) != Path(resume):
        raise ValueError(f"--run-dir {run_dir} and --resume {resume} name different run directories")
    if config is None and resume is None:
        raise ValueError("a new run needs a CONFIG.yaml (or --resume RUN_DIR)")
    if _orders(config, resume) > 1:
        from stackray.run.orders import run_orders

        where = Path(resume or run_dir or new_run_dir(config)).expanduser().resolve()
        return run_orders(config, where, resume=resume is not None, progress=progress, on_window=on_window)
    if resume is not None:
        return ActiveRun(config, resume, resume=True, progress=progress).run(on_window)
    return ActiveRun(config, run_dir or new_run_dir(config), progress=progress).run(on_window)


def _orders(config: RunConfig | None, resume: str | Path | None) -> int:
    """How many orders of the pool the run plays (data.orders of the config, or of the run resumed)."""
    if config is None and resume is not None and (Path(resume) / CONFIG_FILE).is_file():
        config = load_config(Path(resume) / CONFIG_FILE)
    return 1 if config is None else config.data.orders


__all__ = ["ActiveRun", "run_active", "init_ray", "new_run_dir", "config_from_dict"]
