"""The `dpo` stage: direct preference optimisation through TRL's DPOTrainer.

Pairs come from the data (fine_tune.data.preferences). The reference model is
the model as it entered the stage: with LoRA, TRL disables the adapter to get
it (earlier stages are already merged into the weights); with a full
fine-tune, a frozen copy is made here.

    fine-tune method=[sft_cot,dpo]                      # the reference study's pipeline
    fine-tune method=[sft_cot,dpo] method.dpo.beta=0.3
"""

from __future__ import annotations

import copy

from datasets import Dataset

from fine_tune.chat import conversation
from fine_tune.config import DPOLoss
from fine_tune.data.arrow_cache import cached_dataset
from fine_tune.data.preferences import preference_rows
from fine_tune.outputs import fingerprint
from fine_tune.stages.common import StageContext, finish, prepare, training_arguments
from fine_tune.stages.lengths import prompt_tokens, rows_that_fit


def to_dataset(pairs: list[dict], instruction: str | None = None) -> Dataset:
    return Dataset.from_list(
        [
            {
                "prompt": conversation(row, instruction),
                "chosen": [{"role": "assistant", "content": row["chosen"]}],
                "rejected": [{"role": "assistant", "content": row["rejected"]}],
            }
            for row in pairs
        ]
    )


def _dataset(ctx: StageContext, split: str, tokenizer) -> Dataset | None:
    pairs, instruction = preference_rows(ctx.rows(split), ctx.seed, split), ctx.instruction
    pairs = rows_that_fit(pairs, prompt_tokens(tokenizer, pairs, instruction), ctx.stage.max_length,
                          f"method.{ctx.name}", split)
    if not pairs:
        return None
    return cached_dataset(fingerprint([*pairs, {"instruction": instruction}]), "dpo",
                          lambda: to_dataset(pairs, instruction), ctx.cache_dir)


def run_dpo(ctx: StageContext, model, tokenizer):
    """Train one DPO stage; returns (trainer, metrics)."""
    from trl import DPOConfig, DPOTrainer

    # Without LoRA, TRL would reload the reference from the hub id, i.e. the model
    # before the earlier stages: hand it the model as it is now instead.
    reference = None if ctx.uses_lora else copy.deepcopy(model).eval().requires_grad_(False)
    model, peft_config = prepare(ctx, model)
    eval_dataset = _dataset(ctx, "eval", tokenizer)
    clock, guard = ctx.callbacks()
    extra = {} if eval_dataset is not None else {"eval_strategy": "no"}
    trainer = DPOTrainer(
        model=model,
        ref_model=reference,
        args=training_arguments(ctx, DPOConfig, beta=ctx.stage.beta, loss_type=[DPOLoss(ctx.stage.loss_type).value],
                                max_length=ctx.stage.max_length, **extra),
        train_dataset=_dataset(ctx, "train", tokenizer),
        eval_dataset=eval_dataset,
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=[clock, guard],
    )
    return trainer, finish(ctx, trainer, clock, guard)
