"""What every stage shares: its context, TRL arguments from the stage config, LoRA, metrics."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from fine_tune.backends import unsloth_lora
from fine_tune.budget import StageBudget
from fine_tune.chat import answer_instruction
from fine_tune.config import METHODS, LossKind, LRScheduler, StageConfig
from fine_tune.errors import UserError
from fine_tune.evaluation.sampling import loss_rows
from fine_tune.run_folder import StageFolder
from fine_tune.stage_settings import StageSettings, resolve_stage
from fine_tune.stages.callbacks import FirstStepClock, LogAtSaves, RelativeEarlyStopping, TokenLedger
from fine_tune.stages.guard import StabilityGuard
from fine_tune.stages.metrics import stage_metrics


@dataclass
class StageContext:
    """What a stage needs from its run: its settled settings, its rows, where it writes, and the run's
    seed, cache, answer instruction and stability rules. Not the whole config: a stage cannot read a
    setting that resolve_stage did not settle."""

    index: int  # 1-based position in the chain
    settings: StageSettings  # fine_tune.stage_settings.resolve_stage(cfg, name)
    train: list[dict]  # the train rows
    eval: list[dict]  # the held-out rows the trainers evaluate on (eval.max_loss_rows of them)
    out_dir: Path  # this stage's sub-folder of the run folder
    report_to: str  # "wandb" or "none"
    seed: int
    cache_dir: str
    instruction: str | None  # data.answer_instruction's sentence (fine_tune.chat), or None
    stability: Any  # cfg.stability: when a stage counts as unstable (fine_tune.stages.guard)
    inject_nan_at_step: int | None = None  # debug: poison a weight at this step, to test the guard
    resume_from: str | None = None  # a checkpoint of a killed earlier attempt
    backend: str = "hf"  # "hf" or "unsloth" (fine_tune.backends)

    @classmethod
    def from_config(cls, cfg, name: str, index: int = 1, train: list[dict] | None = None,
                    eval: list[dict] | None = None, out_dir: Path | None = None, report_to: str = "none",
                    resume_from: str | None = None, backend: str = "hf") -> StageContext:
        """Stage `name` of a run under `cfg`: everything it reads from the config settled here.

        `eval`: the held-out rows; the trainers evaluate on eval.max_loss_rows of them.
        """
        return cls(index, resolve_stage(cfg, name), list(train or []), loss_rows(list(eval or []), cfg.eval),
                   out_dir if out_dir is not None else Path("."), report_to, cfg.seed, cfg.cache_dir,
                   answer_instruction(cfg.data.answer_instruction), cfg.stability, cfg.debug.inject_nan_at_step,
                   resume_from=resume_from, backend=backend)

    @property
    def name(self) -> str:
        return self.settings.name

    @property
    def stage(self) -> StageConfig:
        """method.<name> as its dataclass (SFTStageConfig, DPOStageConfig, GRPOStageConfig)."""
        return self.settings.stage

    @property
    def uses_lora(self) -> bool:
        return self.settings.uses_lora

    def rows(self, split: str) -> list[dict]:
        return self.train if split == "train" else self.eval

    def callbacks(self):
        """Callbacks every stage's trainer gets: the first-step clock and the stability guard."""
        return FirstStepClock(), StabilityGuard(self.stability, self.inject_nan_at_step,
                                                loss_spikes=METHODS[self.name].loss is not LossKind.grpo)

    def budget_callbacks(self) -> list:
        """budget=converged's early stopping for an SFT-kind stage; none otherwise."""
        plan = self.settings.budget
        return [RelativeEarlyStopping(plan.patience, plan.tolerance)] if plan.patience else []


def _evaluation(plan: StageBudget, max_steps: int) -> dict:
    """Trainer arguments of a budget that evaluates every eval_steps (and, with patience, stops early).

    A short run (debug=smoke's 6 steps) still evaluates a few times: the interval is at most a fifth
    of its steps. Early stopping keeps the best evaluated weights, which needs a checkpoint at every
    evaluation (transformers: save_steps a multiple of eval_steps); the callbacks' state (the patience
    count) is saved with each checkpoint and restored on resume.
    """
    if plan.eval_steps is None:
        return {}
    every = min(plan.eval_steps, max(1, max_steps // 5)) if max_steps > 0 else plan.eval_steps
    settings = {"eval_strategy": "steps", "eval_steps": every}
    if plan.patience:
        settings.update(save_strategy="steps", save_steps=every, load_best_model_at_end=True,
                        metric_for_best_model="eval_loss", greater_is_better=False,
                        restore_callback_states_from_checkpoint=True)
    return settings


def training_arguments(ctx: StageContext, args_class, **extra):
    """TRL `<Method>Config` from the stage settings and the run's budget, with debug=smoke's caps applied."""
    stage, resolved = ctx.stage, ctx.settings
    max_steps, batch = resolved.max_steps, resolved.batch_size
    on_gpu = torch.cuda.is_available()
    settings = dict(
        output_dir=str(StageFolder(ctx.out_dir).checkpoints),
        run_name=f"{ctx.index:02d}-{ctx.name}",
        learning_rate=resolved.learning_rate,
        num_train_epochs=resolved.num_train_epochs,
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
        eval_strategy="epoch" if max_steps <= 0 else "no",  # per-epoch eval loss shows convergence (or _evaluation's)
        save_strategy="steps" if stage.save_steps > 0 else "no",
        save_steps=max(1, stage.save_steps),
        save_total_limit=1,  # the latest checkpoint is all a resume needs (early stopping also keeps the best)
        logging_nan_inf_filter=False,  # a NaN loss must reach the stability guard, not be averaged away
        report_to=ctx.report_to,
        gradient_checkpointing=stage.gradient_checkpointing,
        # model.bf16, else on a GPU that supports it: TRL's own default (bf16 on) is slow on a CPU without
        # bfloat16 instructions
        bf16=resolved.bf16 if resolved.bf16 is not None else on_gpu and torch.cuda.is_bf16_supported(),
        use_cpu=not on_gpu,
        seed=ctx.seed,
        data_seed=ctx.seed,
        dataloader_num_workers=0,
    )
    settings.update(_evaluation(resolved.budget, max_steps))
    settings.update(extra)  # a method's own arguments (beta, num_generations, ...) win
    # then the user's: any TRL argument, without a schema field (names checked by check_trl_args)
    settings.update(stage.trl_args)
    return args_class(**settings)


ALL_LINEAR = "all-linear"  # PEFT's name for every linear layer but the output head


def lora_targets(ctx: StageContext, model) -> list[str]:
    """The layer names LoRA adapts in this model: `all-linear` (the default) as the names it stands for,
    so PEFT and Unsloth get the same explicit list and the adapter records it; else the names given.

    `all-linear` is every Linear layer, and transformers' Conv1D (GPT-2's c_attn, c_proj, c_fc), except
    the output head: a Llama gets q/k/v/o and gate/up/down, a GPT-2 its Conv1D layers, without naming them.

    Raises:
        UserError: a named module the model lacks (PEFT's own error comes from deep inside the trainer),
            with the layers LoRA can adapt.
    """
    from transformers.pytorch_utils import Conv1D

    head = model.get_output_embeddings()
    linear = sorted({name.rsplit(".", 1)[-1] for name, module in model.named_modules()
                     if isinstance(module, (torch.nn.Linear, Conv1D)) and module is not head})
    wanted = list(ctx.stage.lora.target_modules)
    if wanted == [ALL_LINEAR]:
        return linear
    # the layer types PEFT's LoRA adapts by name: GPT-2's attention and MLP are Conv1D, not Linear
    adaptable = (torch.nn.Linear, torch.nn.Embedding, torch.nn.Conv1d, torch.nn.Conv2d, Conv1D)
    names = {name.rsplit(".", 1)[-1] for name, module in model.named_modules() if isinstance(module, adaptable)}
    unknown = [m for m in wanted if m not in names]
    if unknown:
        raise UserError(f"method.{ctx.name}.lora.target_modules has {', '.join(unknown)}, which this model does not "
                        f"have; its layers LoRA can adapt: {', '.join(sorted(names))} (or {ALL_LINEAR}: "
                        f"{', '.join(linear)})")
    return wanted


def prepare(ctx: StageContext, model):
    """(model, peft_config) for the trainer: hf hands TRL a LoraConfig, Unsloth adds the adapter itself."""
    if not ctx.uses_lora:
        return model, None
    targets = lora_targets(ctx, model)
    if ctx.backend == "unsloth":
        return unsloth_lora(model, ctx.stage.lora, ctx.seed, targets), None
    return model, lora_config(ctx, targets)


def lora_config(ctx: StageContext, targets: list[str]):
    """PEFT's LoraConfig of the stage's LoRA settings, on the resolved target layers."""
    from peft import LoraConfig

    lora = ctx.stage.lora
    return LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout, target_modules=targets,
                      task_type="CAUSAL_LM")


def _final_state(checkpoint: str | None):
    """The TrainerState of a checkpoint of the stage's last step (its save then failed, or was killed)."""
    if not checkpoint:
        return None
    from transformers.trainer_callback import TrainerState

    state = TrainerState.load_from_json(str(Path(checkpoint) / "trainer_state.json"))
    return state if 0 < state.max_steps <= state.global_step or RelativeEarlyStopping.stopped(state) else None


def _load_final(trainer, checkpoint: str, state):
    """The trained stage from its last checkpoint, without training.

    Resumed there, Trainer's loop would train one step more than asked: it checks max_steps
    only after a step.
    """
    from transformers.trainer_utils import TrainOutput

    trainer._load_from_checkpoint(checkpoint)  # weights, or the adapter of a PEFT model
    trainer.state = state
    best = state.best_model_checkpoint
    if trainer.args.load_best_model_at_end and best and Path(best).is_dir():  # as train() ends under early stopping
        trainer._load_best_model()
    return TrainOutput(state.global_step, float("nan"), {})  # the loss comes from the log history


def finish(ctx: StageContext, trainer, clock: FirstStepClock, guard) -> dict:
    """Train (resuming a killed attempt's checkpoint if any), evaluate, and collect the metrics.

    Raises:
        StageUnstable: the stability guard stopped the stage.
    """
    ledger = TokenLedger(trainer)
    trainer.add_callback(ledger)
    trainer.add_callback(LogAtSaves())
    for callback in ctx.budget_callbacks():  # budget=converged: early stopping on the held-out loss
        trainer.add_callback(callback)
    final = _final_state(ctx.resume_from)
    if final is not None:
        result = _load_final(trainer, ctx.resume_from, final)
        ledger.at_start = final.num_input_tokens_seen
    else:
        result = trainer.train(resume_from_checkpoint=ctx.resume_from)
    if guard.reason:
        guard.raise_unstable(stage_metrics(trainer, result, {}, clock, ledger))
    trained = len(trainer.state.log_history)
    eval_metrics = trainer.evaluate() if trainer.eval_dataset is not None else {}
    return {**stage_metrics(trainer, result, eval_metrics, clock, ledger, trained), "resumed_from": ctx.resume_from,
            "budget": ctx.settings.budget_name}
