"""The `grpo` stage: group relative policy optimisation through TRL's GRPOTrainer.

Prompts only; the rewards score sampled completions with the data's checkers
(correctness) and the answer format (fine_tune.stages.rewards). Generation
settings live in the config: num_generations, max_completion_length, temperature.

    fine-tune method=[dpo,grpo]
    fine-tune method=grpo method.grpo.num_generations=4 method.grpo.rewards=[correctness]
"""

from __future__ import annotations

import math

from datasets import Dataset

from fine_tune.chat import conversation
from fine_tune.stages.common import StageContext, finish, prepare, training_arguments
from fine_tune.stages.rewards import reward_functions


def run_grpo(ctx: StageContext, model, tokenizer):
    """Train one GRPO stage; returns (trainer, metrics)."""
    from trl import GRPOConfig, GRPOTrainer

    stage = ctx.stage
    rows = ctx.train
    has_checker = any(row.get("check") for row in rows)
    rewards = reward_functions(list(stage.rewards), has_checker)
    if has_checker:
        rows = [row for row in rows if row.get("check")]
    dataset = Dataset.from_list([{"prompt": conversation(row, ctx.instruction), "check": row.get("check") or "{}"}
                                 for row in rows])
    # Every batch holds whole groups: the batch is a multiple of num_generations.
    batch = ctx.settings.batch_size
    batch = math.ceil(batch / stage.num_generations) * stage.num_generations
    model, peft_config = prepare(ctx, model)
    clock, guard = ctx.callbacks()
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=rewards,
        args=training_arguments(
            ctx, GRPOConfig, per_device_train_batch_size=batch, num_generations=stage.num_generations,
            max_completion_length=stage.max_completion_length, temperature=stage.temperature,
            beta=stage.beta, eval_strategy="no",
        ),
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=[clock, guard],
    )
    return trainer, finish(ctx, trainer, clock, guard)
