"""Every setting a user can give, checked once the config composes and before anything loads: `check_config`.

The schemas check types (an int is an int); they cannot say that a batch of 0, a fraction of
1.5 or a negative learning rate means nothing. Left to the trainers these fail minutes later,
deep inside TRL or torch, or, worse, run something else (`data.max_samples=-5` slices off
the last five rows). Each rule names its key, the value and what it must be.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
from collections.abc import Callable

from omegaconf import DictConfig, OmegaConf

from fine_tune.budget import stage_budget
from fine_tune.claim_spec import load_claims, resolve
from fine_tune.config import OBJECTIVES, Finetune, LoraConfig
from fine_tune.errors import UserError
from fine_tune.stage_names import check_repeats

AT_LEAST_1 = (lambda v: v >= 1, "at least 1")
POSITIVE = (lambda v: v > 0 and math.isfinite(v), "a positive number")
NOT_NEGATIVE = (lambda v: v >= 0 and math.isfinite(v), "0 or more")
OPEN_FRACTION = (lambda v: 0 < v < 1, "between 0 and 1 (both excluded)")
FRACTION = (lambda v: 0 < v <= 1, "in (0, 1]")
STEPS = (lambda v: v == -1 or v >= 1, "-1 (whole epochs) or at least 1")

# key -> (test, what it must be); None values mean "unset" and are not checked
RULES: dict[str, tuple[Callable, str]] = {
    "seed": (lambda v: 0 <= v < 2**32, "in [0, 2**32 - 1] (numpy's and torch's seeds)"),
    "data.max_samples": AT_LEAST_1,
    "data.fraction": FRACTION,
    "data.eval_fraction": OPEN_FRACTION,
    "model.learning_rate": POSITIVE,
    "model.num_train_epochs": POSITIVE,
    "model.per_device_train_batch_size": AT_LEAST_1,
    "debug.max_steps": AT_LEAST_1,
    "debug.batch_size": AT_LEAST_1,
    "eval.max_prompts": AT_LEAST_1,
    "eval.max_loss_rows": AT_LEAST_1,
    "eval.max_new_tokens": AT_LEAST_1,
    "eval.batch_size": AT_LEAST_1,
    "budget.sft_steps": AT_LEAST_1,
    "budget.dpo_steps": AT_LEAST_1,
    "budget.eval_steps": AT_LEAST_1,
    "budget.patience": AT_LEAST_1,
    "budget.max_epochs": POSITIVE,
}
STAGE_RULES: dict[str, tuple[Callable, str]] = {
    "seed": (lambda v: 0 <= v < 2**32, "in [0, 2**32 - 1] (numpy's and torch's seeds)"),
    "learning_rate": POSITIVE,
    "learning_rate_scale": POSITIVE,
    "num_train_epochs": POSITIVE,
    "per_device_train_batch_size": AT_LEAST_1,
    "gradient_accumulation_steps": AT_LEAST_1,
    "max_steps": STEPS,
    "max_length": AT_LEAST_1,
    "warmup_ratio": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "weight_decay": NOT_NEGATIVE,
    "save_steps": NOT_NEGATIVE,
    "logging_steps": AT_LEAST_1,
    "beta": POSITIVE,
    "num_generations": (lambda v: v >= 2, "at least 2 (GRPO compares completions of one prompt)"),
    "max_completion_length": AT_LEAST_1,
    "temperature": POSITIVE,
}


def _value(cfg: DictConfig, key: str):
    node = cfg
    for part in key.split("."):
        if not isinstance(node, DictConfig) or part not in node:
            return None
        node = node[part]
    return node


def check_ranges(cfg: DictConfig) -> None:
    """Every rule of RULES, and STAGE_RULES for each selected stage.

    Raises:
        UserError: the first key out of range, with its value and what it must be.
    """
    checks = [(key, _value(cfg, key), rule) for key, rule in RULES.items()]
    for stage in cfg.get("method") or {}:
        checks += [(f"method.{stage}.{key}", _value(cfg, f"method.{stage}.{key}"), rule)
                   for key, rule in STAGE_RULES.items()]
    for key, value, (test, must_be) in checks:
        if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if not test(value):
            raise UserError(f"{key}={value}: must be {must_be}")
    check_budget(cfg)


def check_budget(cfg: DictConfig) -> None:
    """A stage's own steps or epochs that the run's budget would replace: one of the two must go.

    Raises:
        UserError: naming the stage's key, the budget and how to keep either.
    """
    budget = cfg.get("budget")
    for name in cfg.get("method") or {}:
        plan, stage = stage_budget(cfg, name), cfg.method[name]
        ours = [("max_steps", plan.max_steps, stage.max_steps not in (-1, plan.max_steps)),
                ("num_train_epochs", plan.num_train_epochs,
                 stage.get("num_train_epochs") not in (None, plan.num_train_epochs))]
        for key, value, differs in ours:
            if value is not None and differs:
                raise UserError(f"method.{name}.{key}={stage[key]} conflicts with budget={budget.name}, which sets "
                                f"{name}'s {key} to {value}: drop method.{name}.{key}, or train with budget=epochs")


def check_lora_settings(cfg) -> None:
    """LoRA settings that would be ignored or fail deep inside PEFT, for every stage: before anything loads.

    Raises:
        UserError: a rank or alpha below 1, a dropout outside [0, 1), or LoRA settings changed
            under finetune=full (they would train exactly as before).
    """
    default = dataclasses.asdict(LoraConfig())
    for name in cfg.method:
        stage, where = cfg.method[name], f"method.{name}.lora"
        lora = OmegaConf.to_container(stage.lora, resolve=True)
        if lora["r"] < 1 or lora["alpha"] < 1 or not 0 <= lora["dropout"] < 1:
            raise UserError(f"{where}: r and alpha must be >= 1 and dropout in [0, 1) "
                            f"(got r={lora['r']}, alpha={lora['alpha']}, dropout={lora['dropout']})")
        finetune = stage.finetune if stage.finetune is not None else cfg.model.finetune
        finetune = Finetune(finetune).value
        changed = [key for key, value in default.items() if lora[key] != value]
        if finetune == "full" and changed:
            raise UserError(f"{where}.{changed[0]} is set, but method.{name}.finetune is full, which trains every "
                            f"weight and reads no LoRA setting: set method.{name}.finetune=lora, or drop the "
                            "LoRA settings")


def check_chat_template(cfg) -> None:
    """A configured chat template names a built-in, a readable Jinja file or Jinja text: before the model loads.

    Raises:
        UserError: from fine_tune.models.templates.template_text, naming model.chat_template.
    """
    setting = cfg.model.get("chat_template")
    if setting:
        from fine_tune.models.templates import template_text  # heavy: transformers, only when a template is configured

        template_text(str(setting))


def check_objective(objective: str) -> None:
    """cfg.objective names a number every finished run writes to metrics.json (fine_tune.config.OBJECTIVES).

    Optuna learns of a wrong name only after its first trial has trained, and then fails with its own
    words; checked here it is one line before anything loads.

    Raises:
        UserError: naming the objective, the nearest known key and the list.
    """
    if objective in OBJECTIVES or re.fullmatch(r"tuned\.per_skill\.\w+\.accuracy", objective):
        return
    near = difflib.get_close_matches(objective, OBJECTIVES, n=1)
    hint = f" (did you mean '{near[0]}'?)" if near else ""
    raise UserError(f"objective={objective}: no run writes this key of metrics.json{hint}; choose one of "
                    f"{', '.join(OBJECTIVES)}, or tuned.per_skill.<skill>.accuracy")


def check_config(cfg: DictConfig, requested: list[str] | None = None) -> None:
    """The one check every command runs on its config before anything heavy loads.

    Args:
        cfg: the composed config.
        requested: the stages `method=[...]` named on the command line, repeats included (Hydra's
            composition keeps one of each), or None.

    Raises:
        UserError: the first mistake, in one line naming the key and what it must be.
    """
    check_repeats(requested)
    check_ranges(cfg)
    check_lora_settings(cfg)
    check_chat_template(cfg)
    check_objective(cfg.objective)
    load_claims(resolve(cfg.claims))  # a sweep's claims file: a typo shows now, not after hours of training
