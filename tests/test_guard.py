"""The stability guard: what counts as a loss spike, and for which losses."""

from __future__ import annotations

from types import SimpleNamespace

from fine_tune.stages.guard import StabilityGuard

CFG = SimpleNamespace(enabled=True, loss_spike_factor=5.0, max_kl=10.0, min_reward_std=1e-6, reward_std_patience=3)


def _first_stop(guard: StabilityGuard, losses: list[float]) -> str | None:
    for step, loss in enumerate(losses, start=1):
        reason = guard._check({"loss": loss}, step)
        if reason:
            return reason
    return None


def test_a_likelihood_loss_that_jumps_five_fold_is_a_spike():
    assert _first_stop(StabilityGuard(CFG), [0.5, 0.45, 0.4, 0.42, 3.0]).startswith("loss spike at step 5: 3 > 5.0 x")
    assert _first_stop(StabilityGuard(CFG), [0.5, 0.45, 0.4, 0.42, 1.5]) is None  # 3.6x: not yet


def test_a_loss_around_zero_is_not_measured_by_its_ratio():
    # GRPO's loss as the sweep logged it: the old rule called 0.018 a spike over a median of -0.057
    grpo = [-0.06, -0.05, -0.057, -0.07, 0.018]
    assert _first_stop(StabilityGuard(CFG), grpo) is None
    assert _first_stop(StabilityGuard(CFG, loss_spikes=False), [0.001, 0.001, 0.001, 0.2]) is None
    assert _first_stop(StabilityGuard(CFG, loss_spikes=False), [0.1, float("nan")]).startswith("non-finite loss")
