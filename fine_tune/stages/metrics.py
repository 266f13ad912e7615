"""A stage's figures from its trainer: losses per step, epoch and evaluation, runtime, tokens/s, memory."""

from __future__ import annotations

import math
import resource

import torch

from fine_tune.stages.callbacks import FirstStepClock, TokenLedger


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


def eval_points(history: list[dict], trained: int | None = None) -> list[dict]:
    """The eval loss at each evaluation during training, with its (fractional) epoch and step.

    `trained`: how many log entries training wrote; the evaluation after it (finish, below) repeats the
    last point, or under early stopping scores the restored best weights at the last step, so it counts
    only when training evaluated nothing (a max_steps run).
    """
    def points(entries):
        return [{"epoch": h.get("epoch"), "step": h.get("step"), "eval_loss": h["eval_loss"]}
                for h in entries if "eval_loss" in h]

    during = points(history[:trained] if trained is not None else history)
    return during or points(history)


def stage_metrics(trainer, train_result, eval_metrics: dict, clock: FirstStepClock, ledger: TokenLedger,
                  trained: int | None = None) -> dict:
    """Loss per logging step and per epoch, eval loss per evaluation, runtime, tokens/s and peak memory.

    `trained`: the length of the log history when training ended (before the final evaluation)."""
    history = trainer.state.log_history
    steps = [
        {"step": h["step"], "epoch": h.get("epoch"), "loss": h["loss"]}
        for h in history
        if "loss" in h and "train_runtime" not in h
    ]
    by_epoch: dict[int, list[float]] = {}
    for s in steps:
        by_epoch.setdefault(max(0, math.ceil(s["epoch"] or 0) - 1), []).append(s["loss"])
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
        "eval_loss_epochs": eval_points(history, trained),  # every evaluation: an epoch, or budget.eval_steps
        "global_steps": trainer.state.global_step,
        "max_steps": trainer.state.max_steps,  # the steps planned: more than global_steps when stopped early
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
