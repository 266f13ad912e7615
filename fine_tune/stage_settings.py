"""A stage's settings with nothing left to work out: `resolve_stage(cfg, name)`.

A stage's learning rate, epochs, steps, batch and finetune mode come from three places: the stage's
own keys (method.<name>.*), the model preset's budget (model.learning_rate x the stage's
learning_rate_scale, model.num_train_epochs, ...) and the run's budget (fine_tune.budget), with
debug=smoke's caps last. They are settled here, once, and every reader (the trainers' arguments,
the size checks, the stage keys' budget part) takes the result. Config only, no torch: the
command-line checks use it too.
"""

from __future__ import annotations

from dataclasses import dataclass

from omegaconf import DictConfig, OmegaConf

from fine_tune.budget import StageBudget, stage_budget
from fine_tune.config import Finetune, StageConfig


@dataclass(frozen=True)
class StageSettings:
    name: str  # the method: sft, sft_cot, thinking, dpo, grpo
    stage: StageConfig  # method.<name> as its dataclass: a stage reads its own method's settings here
    finetune: Finetune  # the stage's, else the model preset's
    learning_rate: float  # the stage's own, else model.learning_rate x learning_rate_scale
    num_train_epochs: float  # the run's budget's, else the stage's, else the model preset's
    max_steps: int  # > 0 wins over epochs: the budget's, else the stage's; debug=smoke caps it
    batch_size: int  # per device: debug=smoke's, else the stage's, else the model preset's
    budget: StageBudget  # what the run's budget adds (evaluation interval, early stopping)
    budget_name: str  # budget.name, for the stage's metrics
    bf16: bool | None = None  # model.bf16: bfloat16 autocast; None: on a GPU that supports it

    @property
    def uses_lora(self) -> bool:
        return self.finetune is Finetune.lora


def _own_or_model(stage: StageConfig, cfg: DictConfig, key: str):
    value = getattr(stage, key)
    return value if value is not None else cfg.model[key]


def resolve_stage(cfg: DictConfig, name: str) -> StageSettings:
    """Stage `name`'s settings under `cfg`, every default and cap applied."""
    node = cfg.method[name]
    stage = OmegaConf.to_object(node) if isinstance(node, DictConfig) else node
    plan, debug = stage_budget(cfg, name), cfg.debug
    max_steps = plan.max_steps if plan.max_steps is not None else stage.max_steps
    if debug.max_steps is not None:  # after the budget: a smoke run stays a smoke run
        max_steps = min(max_steps, debug.max_steps) if max_steps > 0 else debug.max_steps
    rate = stage.learning_rate if stage.learning_rate is not None else \
        float(cfg.model.learning_rate) * float(stage.learning_rate_scale)
    budget = cfg.get("budget")
    return StageSettings(
        name=name, stage=stage, finetune=Finetune(_own_or_model(stage, cfg, "finetune")),
        learning_rate=float(rate),
        num_train_epochs=float(plan.num_train_epochs or _own_or_model(stage, cfg, "num_train_epochs")),
        max_steps=int(max_steps),
        batch_size=int(debug.batch_size or _own_or_model(stage, cfg, "per_device_train_batch_size")),
        budget=plan, budget_name=budget.name if budget is not None else "epochs",
        bf16=cfg.model.get("bf16"),
    )
