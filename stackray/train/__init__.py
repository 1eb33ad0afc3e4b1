"""LoRA fine-tuning of the scoring LM on the paid labels (the game's SFT phase).

    trainer = LoraTrainer(LoraSettings(enabled=True), model=None, fmt="cloze")
    phase = trainer.train([TrainExample(item, gold, alternatives), ...])
    record = trainer.save(run_dir / ADAPTER_DIR, version=1, loss=phase.loss, steps=phase.steps)

Modules: settings (the `lora:` config section), trainer (the loss and the loop), adapter (the
RUN_DIR/adapter/ artefact that plain peft loads as it is). Importing this package does not import torch.
"""

from stackray.train.adapter import (ADAPTER_DIR, META_FILE, check_base, load_adapter, publish_adapter,
                                    read_adapter_meta, write_adapter)
from stackray.train.settings import LoraSettings
from stackray.train.trainer import LoraTrainer, PhaseResult, TrainExample

__all__ = ["ADAPTER_DIR", "META_FILE", "LoraSettings", "LoraTrainer", "PhaseResult", "TrainExample", "check_base",
           "load_adapter", "publish_adapter", "read_adapter_meta", "write_adapter"]
