"""What every stage shares: its context, TRL arguments from the stage config, LoRA, metrics."""

from __future__ import annotations

import math
import resource
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from transformers import TrainerCallback

from fine_tune.config import Finetune, LRScheduler, StageConfig
from fine_tune.data.pipeline import Splits


@dataclass
class StageContext:
    name: str  # the stage kind: sft, sft_cot, dpo, grpo, thinking
    index: int  # 1-based position in the chain
    stage: StageConfig  # cfg.method.<name>, as its dataclass (SFTStageConfig, DPOStageConfig, GRPOStageConfig)
    cfg: Any  # the whole run config
    splits: Splits
    out_dir: Path  # this stage's sub-folder of the run folder
    report_to: str  # "wandb" or "none"
    resume_from: str | None = None  # a checkpoint of a killed earlier attempt
    backend: str = "hf"  # "hf" or "unsloth" (fine_tune.backends)

    def __post_init__(self):
        # typed from here on: a stage reads attributes of its dataclass, enums as enums, never a DictConfig
        if isinstance(self.stage, DictConfig):
            self.stage = OmegaConf.to_object(self.stage)

    def callbacks(self):
        """Callbacks every stage's trainer gets: the first-step clock and the stability guard."""
        from fine_tune.stages.guard import StabilityGuard

        return FirstStepClock(), StabilityGuard(self.cfg.stability, self.cfg.debug.inject_nan_at_step,
                                                loss_spikes=self.name != "grpo")

    @property
    def learning_rate(self) -> float:
        """The stage's own rate, else the model's scaled by the stage's learning_rate_scale."""
        if self.stage.learning_rate is not None:
            return float(self.stage.learning_rate)
        return float(self.cfg.model.learning_rate) * float(self.stage.learning_rate_scale)

    @property
    def uses_lora(self) -> bool:
        """finetune=lora (the stage's, else the model preset's): train an adapter, not every weight."""
        return Finetune(self.budget("finetune")) is Finetune.lora

    @property
    def instruction(self) -> str | None:
        """The sentence data.answer_instruction appends to every prompt (fine_tune.chat), or None."""
        from fine_tune.chat import answer_instruction

        return answer_instruction(self.cfg.data.answer_instruction)

    def rows(self, split: str) -> list[dict]:
        """The split's rows; the eval split cut to eval.max_loss_rows for the trainers' own evaluation."""
        from fine_tune.evaluation.sampling import loss_rows

        rows = getattr(self.splits, split)
        return loss_rows(rows, self.cfg.eval) if split == "eval" else rows

    def budget(self, key: str):
        """A stage's own finetune / num_train_epochs / batch size, else the model preset's."""
        value = getattr(self.stage, key)
        return value if value is not None else self.cfg.model[key]


def training_arguments(ctx: StageContext, args_class, **extra):
    """TRL `<Method>Config` from the stage settings, with debug=smoke's caps applied."""
    stage, debug = ctx.stage, ctx.cfg.debug
    max_steps = stage.max_steps
    if debug.max_steps is not None:
        max_steps = min(max_steps, debug.max_steps) if max_steps > 0 else debug.max_steps
    batch = debug.batch_size or ctx.budget("per_device_train_batch_size")
    on_gpu = torch.cuda.is_available()
    settings = dict(
        output_dir=str(ctx.out_dir / "checkpoints"),
        run_name=f"{ctx.index:02d}-{ctx.name}",
        learning_rate=ctx.learning_rate,
        num_train_epochs=ctx.budget("num_train_epochs"),
        max_steps=max_steps,
        per_device_train_batch_size=batch,
        per_device_eval_batch_size=max(batch, 16),
        gradient_accumulation_steps=stage.gradient_accumulation_steps,
        warmup_steps=stage.warmup_ratio,  # below 1: a share of the steps
        weight_decay=stage.weight_decay,
        lr_scheduler_type=LRScheduler(stage.lr_scheduler_type).value,
        # short runs (debug=smoke) still log a loss curve of a few points
        logging_steps=min(stage.logging_steps, max(1, max_steps // 5)) if max_steps > 0 else stage.logging_steps,
        logging_first_step=True,  # the first loss is the baseline "loss went down" is measured from
        eval_strategy="epoch" if max_steps <= 0 else "no",  # per-epoch eval loss shows convergence
        save_strategy="steps" if stage.save_steps > 0 else "no",
        save_steps=max(1, stage.save_steps),
        save_total_limit=1,  # the latest checkpoint is all a resume needs
        logging_nan_inf_filter=False,  # a NaN loss must reach the stability guard, not be averaged away
        report_to=ctx.report_to,
        gradient_checkpointing=stage.gradient_checkpointing,
        bf16=on_gpu and torch.cuda.is_bf16_supported(),  # TRL defaults to bf16, which fails on CPU
        use_cpu=not on_gpu,
        seed=ctx.cfg.seed,
        data_seed=ctx.cfg.seed,
        dataloader_num_workers=0,
    )
    settings.update(extra)  # a method's own arguments (beta, num_generations, ...) win
    # then the user's: any TRL argument, without a schema field (names checked by check_trl_args)
    settings.update(stage.trl_args)
    return args_class(**settings)


def check_target_modules(ctx: StageContext, model) -> None:
    """LoRA target modules the model has; PEFT's own error comes from deep inside the trainer.

    Raises:
        UserError: naming the modules it lacks and the linear layers it has.
    """
    from fine_tune.errors import UserError

    from transformers.pytorch_utils import Conv1D

    # the layer types PEFT's LoRA adapts; GPT-2's attention and MLP are transformers' Conv1D, not Linear
    adaptable = (torch.nn.Linear, torch.nn.Embedding, torch.nn.Conv1d, torch.nn.Conv2d, Conv1D)
    names = {name.rsplit(".", 1)[-1] for name, module in model.named_modules() if isinstance(module, adaptable)}
    unknown = [m for m in ctx.stage.lora.target_modules if m not in names]
    if unknown:
        raise UserError(f"method.{ctx.name}.lora.target_modules has {', '.join(unknown)}, which this model does not "
                        f"have; its layers LoRA can adapt: {', '.join(sorted(names))}")


def prepare(ctx: StageContext, model):
    """(model, peft_config) for the trainer: hf hands TRL a LoraConfig, Unsloth adds the adapter itself."""
    if ctx.uses_lora:
        check_target_modules(ctx, model)
    if ctx.backend == "unsloth" and ctx.uses_lora:
        from fine_tune.backends import unsloth_lora

        return unsloth_lora(model, ctx.stage.lora, ctx.cfg.seed), None
    return model, lora_config(ctx)


def lora_config(ctx: StageContext):
    """PEFT LoraConfig for finetune=lora, None for finetune=full."""
    if not ctx.uses_lora:
        return None
    stage = ctx.stage
    from peft import LoraConfig

    return LoraConfig(
        r=stage.lora.r,
        lora_alpha=stage.lora.alpha,
        lora_dropout=stage.lora.dropout,
        target_modules=list(stage.lora.target_modules),
        task_type="CAUSAL_LM",
    )


class FirstStepClock(TrainerCallback):
    """Records when the first optimisation step began (wall clock), for start-up benchmarks."""

    def __init__(self):
        self.first_step_at: float | None = None

    def on_step_begin(self, args, state, control, **kwargs):
        if self.first_step_at is None:
            self.first_step_at = time.time()


class LogAtSaves(TrainerCallback):
    """Log the loss at every checkpoint and at the last step, so the log history covers every step.

    Trainer averages the loss over each logging window and keeps the sum of a resumed attempt's
    steps only in memory; with a window closed at each save, a resumed stage's log history (restored
    from its checkpoint) still gives the exact mean over all steps. Added after Trainer's own flow
    callback, so it sees that step's save decision.
    """

    def on_step_end(self, args, state, control, **kwargs):
        if control.should_save or state.global_step >= state.max_steps:
            control.should_log = True


class TokenLedger(TrainerCallback):
    """Trained tokens over all steps, across a resume.

    TRL's SFT and DPO trainers count in `trainer._total_train_tokens`, which restarts at 0 when a
    killed stage resumes; kept in TrainerState.num_input_tokens_seen, the count is saved with each
    checkpoint and restored from it. GRPO counts in the state itself.
    """

    def __init__(self, trainer):
        self.trainer = trainer
        self.in_trainer = hasattr(trainer, "_total_train_tokens") and "GRPO" not in type(trainer).__name__
        self.at_start = 0  # the tokens of earlier attempts: this attempt's rate excludes them

    def on_train_begin(self, args, state, control, **kwargs):  # after a resumed state is loaded
        self.at_start = state.num_input_tokens_seen
        if self.in_trainer:
            self.trainer._total_train_tokens = state.num_input_tokens_seen

    def on_step_end(self, args, state, control, **kwargs):  # before this step's checkpoint is saved
        if self.in_trainer:
            state.num_input_tokens_seen = self.trainer._total_train_tokens


def mean_loss(steps: list[dict]) -> float | None:
    """The mean loss over every step: each logged loss is its window's mean, weighted by the window."""
    total, last = 0.0, 0
    for entry in steps:
        total += entry["loss"] * (entry["step"] - last)
        last = entry["step"]
    return total / last if last else None


def peak_memory_mb() -> float:
    """Peak GPU memory allocated (CUDA), else the process's peak resident memory."""
    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


# The last logged value of each of these goes to metrics.json (DPO and GRPO report them).
EXTRA_LOGS = ("rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies",
              "reward", "reward_std", "kl", "rewards/correctness/mean", "rewards/answer_format/mean")


def stage_metrics(trainer, train_result, eval_metrics: dict, clock: FirstStepClock, ledger: TokenLedger) -> dict:
    """Loss per logging step and per epoch, eval loss, runtime, tokens/s and peak memory."""
    history = trainer.state.log_history
    steps = [
        {"step": h["step"], "epoch": h.get("epoch"), "loss": h["loss"]}
        for h in history
        if "loss" in h and "train_runtime" not in h
    ]
    by_epoch: dict[int, list[float]] = {}
    for s in steps:
        by_epoch.setdefault(max(0, math.ceil(s["epoch"] or 0) - 1), []).append(s["loss"])
    eval_losses = [{"epoch": h.get("epoch"), "eval_loss": h["eval_loss"]} for h in history if "eval_loss" in h]
    runtime = train_result.metrics.get("train_runtime", 0.0)
    tokens = trainer.state.num_input_tokens_seen  # all attempts' (TokenLedger); GRPO: prompts + completions
    return {
        "train_loss_steps": steps,
        "train_loss_epochs": [
            {"epoch": e + 1, "loss": sum(v) / len(v)} for e, v in sorted(by_epoch.items())
        ],
        "first_train_loss": steps[0]["loss"] if steps else None,
        "final_train_loss": steps[-1]["loss"] if steps else None,
        "mean_train_loss": mean_loss(steps),  # over all steps, a resumed attempt's included
        "eval_loss": eval_metrics.get("eval_loss"),
        "eval_loss_epochs": eval_losses,
        "global_steps": trainer.state.global_step,
        "epochs": trainer.state.epoch,
        "train_rows": len(trainer.train_dataset),
        "runtime_s": runtime,
        "train_tokens": tokens,
        "tokens_per_s": (tokens - ledger.at_start) / runtime if runtime else None,  # this attempt's rate
        "peak_memory_mb": peak_memory_mb(),
        "first_step_at": clock.first_step_at,
        "processes": trainer.args.world_size,  # > 1 under accelerate launch / torchrun
        "distributed_backend": _backend_name(),
        # which class trained: Unsloth swaps TRL's trainers for its own when it is the backend
        "trainer": f"{type(trainer).__module__}.{type(trainer).__qualname__}",
        "logged": {key: h[key] for h in history for key in EXTRA_LOGS if key in h},
    }


def _backend_name() -> str | None:
    import torch.distributed as dist

    return dist.get_backend() if dist.is_available() and dist.is_initialized() else None


def _final_state(checkpoint: str | None):
    """The TrainerState of a checkpoint of the stage's last step (its save then failed, or was killed)."""
    if not checkpoint:
        return None
    from transformers.trainer_callback import TrainerState

    state = TrainerState.load_from_json(str(Path(checkpoint) / "trainer_state.json"))
    return state if 0 < state.max_steps <= state.global_step else None


def _load_final(trainer, checkpoint: str, state):
    """The trained stage from its last checkpoint, without training.

    Resumed there, Trainer's loop would train one step more than asked: it checks max_steps
    only after a step.
    """
    from transformers.trainer_utils import TrainOutput

    trainer._load_from_checkpoint(checkpoint)  # weights, or the adapter of a PEFT model
    trainer.state = state
    return TrainOutput(state.global_step, float("nan"), {})  # the loss comes from the log history


def finish(ctx: StageContext, trainer, clock: FirstStepClock, guard) -> dict:
    """Train (resuming a killed attempt's checkpoint if any), evaluate, and collect the metrics.

    Raises:
        StageUnstable: the stability guard stopped the stage.
    """
    ledger = TokenLedger(trainer)
    trainer.add_callback(ledger)
    trainer.add_callback(LogAtSaves())
    final = _final_state(ctx.resume_from)
    if final is not None:
        result = _load_final(trainer, ctx.resume_from, final)
        ledger.at_start = final.num_input_tokens_seen
    else:
        result = trainer.train(resume_from_checkpoint=ctx.resume_from)
    if guard.reason:
        guard.raise_unstable(stage_metrics(trainer, result, {}, clock, ledger))
    eval_metrics = trainer.evaluate() if trainer.eval_dataset is not None else {}
    return {**stage_metrics(trainer, result, eval_metrics, clock, ledger), "resumed_from": ctx.resume_from}
