"""Stops a stage that has gone unstable, and says why.

Watched on every log line TRL writes: a loss that is NaN or infinite, a loss
spike (above `loss_spike_factor` times the median of the last ten), an
exploding KL (GRPO's `kl` above `max_kl`), and a collapsed reward variance
(GRPO's `reward_std` under `min_reward_std` for `reward_std_patience` logs in
a row: every completion scored alike, so there is nothing to learn from).
"""

from __future__ import annotations

import math
import statistics

import torch
from transformers import TrainerCallback


class StageUnstable(Exception):
    """The stage stopped early; the run is marked unstable with this reason."""

    def __init__(self, reason: str, metrics: dict):
        super().__init__(reason)
        self.reason = reason
        self.metrics = metrics  # the stage's losses up to the stop


class StabilityGuard(TrainerCallback):
    def __init__(self, cfg, inject_nan_at_step: int | None = None, loss_spikes: bool = True):
        """`loss_spikes=False` for a loss that is not a likelihood: GRPO's policy-gradient loss sits
        near zero and changes sign, so "five times its median" says nothing (its KL and reward
        variance are watched instead)."""
        self.cfg = cfg
        self.loss_spikes = loss_spikes
        self.inject_nan_at_step = inject_nan_at_step
        self.reason: str | None = None
        self.losses: list[float] = []
        self.flat_rewards = 0

    def _check(self, logs: dict, step: int) -> str | None:
        loss = logs.get("loss")
        if loss is not None:
            if not math.isfinite(loss):
                return f"non-finite loss ({loss}) at step {step}"
            recent = self.losses[-10:]
            median = statistics.median(recent) if len(recent) >= 3 else None
            # a ratio to a median at or below zero is no measure of a spike: any positive loss would be one
            if self.loss_spikes and median is not None and median > 0 and loss > self.cfg.loss_spike_factor * median:
                return f"loss spike at step {step}: {loss:.4g} > {self.cfg.loss_spike_factor} x median {median:.4g}"
            self.losses.append(loss)
        kl = logs.get("kl")
        if kl is not None and (not math.isfinite(kl) or kl > self.cfg.max_kl):
            return f"exploding KL at step {step}: {kl:.4g} > {self.cfg.max_kl}"
        std = logs.get("reward_std")
        if std is not None:
            self.flat_rewards = self.flat_rewards + 1 if std < self.cfg.min_reward_std else 0
            if self.flat_rewards >= self.cfg.reward_std_patience:
                return f"reward variance collapsed: reward_std < {self.cfg.min_reward_std} for {self.flat_rewards} logs"
        return None

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.cfg.enabled and logs and self.reason is None:
            self.reason = self._check(logs, state.global_step)
            if self.reason:
                control.should_training_stop = True

    def on_step_end(self, args, state, control, model=None, **kwargs):
        # debug.inject_nan_at_step: poison one weight so the next loss is NaN (tests the guard end to end).
        if self.inject_nan_at_step is not None and state.global_step == self.inject_nan_at_step and model is not None:
            with torch.no_grad():
                next(p for p in model.parameters() if p.requires_grad).fill_(float("nan"))

    def raise_unstable(self, metrics: dict) -> None:
        raise StageUnstable(self.reason or "unstable", metrics)
