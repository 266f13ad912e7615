"""The method stages, dispatched through a plain dict: stage name -> function.

A stage function takes (StageContext, model, tokenizer) and returns
(trainer, metrics). Stages run in the order `method=[...]` lists them; after
each, a LoRA adapter is saved, then merged into the weights the next stage
(and the evaluation) starts from, so every stage trains a fresh adapter on
top of everything before it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from fine_tune.errors import UserError
from fine_tune.stages.sft import run_sft

# Stages whose trainers land in a later issue: chosen, they stop before anything loads.
NOT_YET = {"dpo": "issue 4 (DPO)", "grpo": "issue 4 (GRPO)"}

RUNNERS = {"sft": run_sft, "sft_cot": run_sft, "thinking": run_sft}


def check_available(stages: list[str]) -> None:
    for name in stages:
        if name in NOT_YET:
            raise UserError(
                f"method '{name}' is not available yet (it lands with {NOT_YET[name]}): "
                f"use method=sft, method=sft_cot or method=thinking"
            )
        if name not in RUNNERS:
            raise UserError(f"method '{name}' has no stage runner; known: {', '.join(RUNNERS)}")


def save_and_merge(trainer, tokenizer, stage_dir: Path):
    """Save the stage's adapter (or full model) atomically; return the model the next stage starts from."""
    model = trainer.model
    is_adapter = hasattr(model, "peft_config")
    target = stage_dir / ("adapter" if is_adapter else "model")
    staging = target.with_name(f".{target.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    trainer.save_model(str(staging))
    tokenizer.save_pretrained(str(staging))
    shutil.rmtree(target, ignore_errors=True)
    os.replace(staging, target)
    return model.merge_and_unload() if is_adapter else model
