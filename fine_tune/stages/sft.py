"""The supervised stages: `sft` (direct answers), `sft_cot` (reasoning, then the answer)
and `thinking` (a <think> block, then the answer), through TRL's SFTTrainer.

Rows become conversational prompt-completion pairs, so the loss is on the
response tokens only (TRL's completion_only_loss). LoRA goes through PEFT's
LoraConfig handed to the trainer; `finetune=full` trains every weight.

    fine-tune method=sft_cot            # the reference study's SFT stage
    fine-tune method=sft method.sft.finetune=full
"""

from __future__ import annotations

from datasets import Dataset

from fine_tune.chat import conversation
from fine_tune.config import Response
from fine_tune.data.arrow_cache import cached_dataset
from fine_tune.data.schema import response_text
from fine_tune.outputs import fingerprint
from fine_tune.stages.common import StageContext, finish, prepare, training_arguments
from fine_tune.stages.lengths import prompt_tokens, rows_that_fit


def to_dataset(rows: list[dict], response: str, instruction: str | None = None) -> Dataset:
    """Conversational prompt/completion rows for SFTTrainer (fine_tune.chat builds the prompt)."""
    return Dataset.from_list(
        [
            {"prompt": conversation(row, instruction),
             "completion": [{"role": "assistant", "content": response_text(row, response)}]}
            for row in rows
        ]
    )


def _cached(ctx: StageContext, split: str, response: str, tokenizer) -> Dataset | None:
    rows, instruction = ctx.rows(split), ctx.instruction
    lengths = prompt_tokens(tokenizer, rows, instruction)
    rows = rows_that_fit(rows, lengths, ctx.stage.max_length, f"method.{ctx.name}", split)
    if not rows:  # an eval split whose every prompt is too long: the stage trains without an eval loss
        return None
    build = lambda: to_dataset(rows, response, instruction)  # noqa: E731
    return cached_dataset(fingerprint([*rows, {"instruction": instruction}]), f"sft-{response}", build,
                          ctx.cache_dir)


def run_sft(ctx: StageContext, model, tokenizer):
    """Train one SFT stage; returns (trainer, metrics)."""
    from trl import SFTConfig, SFTTrainer

    response = Response(ctx.stage.response).value
    model, peft_config = prepare(ctx, model)
    clock, guard = ctx.callbacks()
    train, held_out = _cached(ctx, "train", response, tokenizer), _cached(ctx, "eval", response, tokenizer)
    extra = {} if held_out is not None else {"eval_strategy": "no"}
    trainer = SFTTrainer(
        model=model,
        args=training_arguments(
            ctx, SFTConfig, max_length=ctx.stage.max_length,
            train_sampling_strategy="group_by_length" if ctx.stage.group_by_length else "random", **extra,
        ),
        train_dataset=train,
        eval_dataset=held_out,
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=[clock, guard],
    )
    return trainer, finish(ctx, trainer, clock, guard)
