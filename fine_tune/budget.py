"""How long each stage trains under the run's budget (conf/budget/: epochs, matched_steps, converged).

Two data sets of different size trained for the same epochs get different numbers of optimizer
steps (../shared/docs/EVALUATION.md, "Equal budgets"): a data comparison is fair at matched steps
or with both trained to convergence. This module says what cfg.budget sets for one stage; the
stages turn it into Trainer arguments and callbacks (fine_tune.stages.common.training_arguments),
the stage keys include it (fine_tune.stages.chain.stage_keys), and the range checks compare it with
the stage's own settings (fine_tune.config_ranges). Config only: no torch, no transformers, so the
checks on the command line stay fast.
"""

from __future__ import annotations

from dataclasses import dataclass

from fine_tune.config import METHODS, BudgetKind, LossKind


@dataclass(frozen=True)
class StageBudget:
    """What the run's budget (cfg.budget) sets for one stage; None: the stage's own setting."""

    max_steps: int | None = None
    num_train_epochs: float | None = None
    eval_steps: int | None = None  # evaluate every eval_steps optimizer steps, not once an epoch
    patience: int | None = None  # early stopping: evaluations without improvement before the stage stops
    tolerance: float | None = None  # ...by this share of the best eval loss (eval.convergence_tolerance)


def stage_budget(cfg, name: str) -> StageBudget:
    """The budget of stage `name` under cfg.budget (conf/budget/): the SFT-kind stages (sft, sft_cot,
    thinking) get matched_steps' sft_steps or converged's early stopping, dpo matched_steps' dpo_steps;
    budget=epochs, and grpo under any budget, keep the stage's own settings."""
    budget = cfg.get("budget")  # absent in a run folder of an older version: its own epochs
    kind = BudgetKind(budget.kind) if budget is not None else BudgetKind.epochs
    loss = METHODS[name].loss if name in METHODS else None
    supervised = loss is LossKind.sft
    if kind is BudgetKind.matched_steps and supervised:
        return StageBudget(max_steps=budget.sft_steps, eval_steps=budget.eval_steps)
    if kind is BudgetKind.matched_steps and loss is LossKind.dpo:
        return StageBudget(max_steps=budget.dpo_steps)
    if kind is BudgetKind.converged and supervised:
        return StageBudget(max_steps=-1, num_train_epochs=float(budget.max_epochs), eval_steps=budget.eval_steps,
                           patience=budget.patience, tolerance=float(cfg.eval.convergence_tolerance))
    return StageBudget()
