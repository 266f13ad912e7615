"""The method stages, dispatched through the method table (fine_tune.config.METHODS): name -> runner.

A stage function takes (StageContext, model, tokenizer) and returns
(trainer, metrics). Stages run in the order `method=[...]` lists them; after
each, a LoRA adapter is saved, then merged into the weights the next stage
(and the evaluation) starts from, so every stage trains a fresh adapter on
top of everything before it.
"""

from __future__ import annotations

import importlib
import shutil
from pathlib import Path

from fine_tune.config import METHODS, Response
from fine_tune.distributed import barrier, is_main
from fine_tune.errors import UserError
from fine_tune.outputs import write_folder_atomic
from fine_tune.run_folder import StageFolder


def runner(name: str):
    """The function that trains method `name`: its row's `module:function`, imported on first use."""
    module, function = METHODS[name].runner.split(":")
    return getattr(importlib.import_module(module), function)


def response_format(cfg) -> str:
    """What the run's model learns to write: its last supervised stage's response, else `cot`.

    DPO's chosen answers and GRPO's rewarded ones are reasoning then `Answer:`, so a chain
    without an SFT stage writes the cot format too. The held-out loss is scored in it.
    """
    supervised = [cfg.method[name].response for name in cfg.method if "response" in cfg.method[name]]
    return Response(supervised[-1]).value if supervised else "cot"


def max_length(cfg) -> int:
    """The longest sequence any selected stage trains on (Unsloth sizes its kernels by it)."""
    return max(int(cfg.method[name].max_length) for name in cfg.method)


def check_available(stages: list[str]) -> None:
    """Every stage is a row of the method table."""
    for name in stages:
        if name not in METHODS:
            raise UserError(f"method '{name}' is not in the method table (fine_tune.config.METHODS); known: "
                            f"{', '.join(METHODS)}")


def trl_config_class(name: str):
    """The TRL config class stage `name` trains with."""
    import trl  # heavy: TRL, only for the checks and stages that need its classes

    return getattr(trl, METHODS[name].trl_config)


def check_trl_args(cfg) -> None:
    """Every `method.<stage>.trl_args` name is an argument of the stage's TRL config: a typo fails
    here, before the model loads, with the nearest names, not as a TypeError inside TRL."""
    import dataclasses
    import difflib

    for name in cfg.method:
        known = {f.name for f in dataclasses.fields(trl_config_class(name))}
        for key in cfg.method[name].trl_args:
            if key not in known:
                near = difflib.get_close_matches(key, sorted(known), n=3)
                hint = f"did you mean {', '.join(near)}?" if near else "see the TRL docs for its arguments"
                raise UserError(f"method.{name}.trl_args.{key}: {trl_config_class(name).__name__} has no argument "
                                f"'{key}'; {hint}")


def save_and_merge(trainer, tokenizer, stage_dir: Path):
    """Save the stage's adapter (or full model) atomically; return the model the next stage starts from."""
    model = trainer.model
    is_adapter = hasattr(model, "peft_config")
    def write(staging: Path) -> None:
        trainer.save_model(str(staging))
        tokenizer.save_pretrained(str(staging))

    if is_main():  # in a multi-process job every process holds the same weights; one writes them
        folder = StageFolder(stage_dir)
        write_folder_atomic(folder.adapter if is_adapter else folder.model, write)
        shutil.rmtree(folder.checkpoints, ignore_errors=True)  # only a killed stage needs them
    barrier()
    return model.merge_and_unload() if is_adapter else model
