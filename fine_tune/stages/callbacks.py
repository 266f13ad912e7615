"""The callbacks every stage's trainer gets: when its first step began, early stopping with a relative
threshold (budget=converged), a logged loss at every save, and the trained tokens across a resume."""

from __future__ import annotations

import time

from transformers import EarlyStoppingCallback, TrainerCallback


class FirstStepClock(TrainerCallback):
    """Records when the first optimisation step began (wall clock), for start-up benchmarks."""

    def __init__(self):
        self.first_step_at: float | None = None

    def on_step_begin(self, args, state, control, **kwargs):
        if self.first_step_at is None:
            self.first_step_at = time.time()


class RelativeEarlyStopping(EarlyStoppingCallback):
    """transformers' early stopping with a relative threshold: an evaluation counts as an improvement
    only when it lowers the best eval loss by `tolerance` of it (eval.convergence_tolerance, the share
    the convergence rule uses), whatever the loss's scale. transformers' own threshold is absolute.

    Its patience count is saved with every checkpoint (an ExportableState) and restored on resume.
    """

    def __init__(self, early_stopping_patience: int = 1, tolerance: float = 0.0):
        super().__init__(early_stopping_patience)
        self.tolerance = tolerance

    def check_metric_value(self, args, state, control, metric_value):
        best = state.best_metric  # the best before this evaluation: Trainer updates it afterwards
        if best is None or metric_value < best - self.tolerance * abs(best):
            self.early_stopping_patience_counter = 0
        else:
            self.early_stopping_patience_counter += 1

    def state(self) -> dict:
        saved = super().state()
        saved["args"] = {"early_stopping_patience": self.early_stopping_patience, "tolerance": self.tolerance}
        return saved

    @staticmethod
    def stopped(state) -> bool:
        """Whether a saved TrainerState's early stopping had run out of patience (training ended there)."""
        saved = (state.stateful_callbacks or {}).get(RelativeEarlyStopping.__name__)
        if not isinstance(saved, dict):
            return False
        patience = saved.get("args", {}).get("early_stopping_patience", 0)
        return 0 < patience <= saved.get("attributes", {}).get("early_stopping_patience_counter", 0)


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
