"""Training budgets (conf/budget/): matched steps and convergence, what the trainers get, and the convergence rule."""

from __future__ import annotations

import math

import pytest
from omegaconf import OmegaConf

from fine_tune.config import compose
from fine_tune.data.pipeline import Splits, load_splits
from fine_tune.data.preferences import preference_rows
from fine_tune.errors import UserError
from fine_tune.evaluation.loss import convergence_epoch, run_convergence

BATCH = 16  # the tiny model's per_device_train_batch_size, which the default step counts assume


@pytest.fixture(scope="module")
def splits(tmp_path_factory) -> dict[str, Splits]:
    """The embedded raw and curated train sets (a few seconds; curation cached for the module)."""
    cache = str(tmp_path_factory.mktemp("data"))
    return {data: load_splits(compose([f"data={data}"]).data, cache, show_progress=False)
            for data in ("raw", "curated")}


def trl_args(overrides: list[str], stage: str, tmp_path):
    """The TRL config training_arguments builds for `stage` of the composed run."""
    from trl import DPOConfig, SFTConfig

    from fine_tune.stages.common import StageContext, training_arguments

    cfg = compose(overrides)
    ctx = StageContext.from_config(cfg, stage, list(cfg.method).index(stage) + 1, out_dir=tmp_path / stage)
    return training_arguments(ctx, DPOConfig if stage == "dpo" else SFTConfig), ctx


def steps_per_epoch(rows: int, batch: int = BATCH) -> int:
    """Trainer's optimizer steps an epoch: len(DataLoader) = ceil(rows / batch), the partial last batch included
    (transformers' set_initial_training_values, gradient accumulation 1)."""
    from torch.utils.data import DataLoader

    return len(DataLoader(range(rows), batch_size=batch))


@pytest.mark.parametrize("data", ["raw", "curated"])
def test_equal_budget_preset_matches_the_steps_of_one_epoch_of_raw(data, splits, tmp_path):
    raw = splits["raw"].train
    raw_pairs = preference_rows(raw, 42, "train")
    overrides = ["experiment=equal_budget", f"data={data}", "budget=matched_steps", "method=[sft_cot,dpo]"]
    sft, _ = trl_args(overrides, "sft_cot", tmp_path)
    dpo, _ = trl_args(overrides, "dpo", tmp_path)
    # SFT: one epoch of raw, whatever the data; DPO: raw's 0.1 epoch of pairs (conf/method/dpo.yaml)
    assert sft.max_steps == steps_per_epoch(len(raw)) == math.ceil(len(raw) / BATCH) == 985
    assert dpo.max_steps == math.ceil(0.1 * steps_per_epoch(len(raw_pairs))) == 94
    assert sft.per_device_train_batch_size == dpo.per_device_train_batch_size == BATCH
    epochs = sft.max_steps * BATCH / len(splits[data].train)
    if data == "raw":
        assert epochs == pytest.approx(1.0, abs=BATCH / len(raw))  # the last batch is partial
    else:  # the smaller set trains more epochs for the same steps
        assert len(splits[data].train) < len(raw) and epochs > 1.5
    # the loss curves meet at the same steps: evaluated every budget.eval_steps, not once an epoch
    assert (sft.eval_strategy, sft.eval_steps) == ("steps", 100)
    # under the default budget the same data is the step gap the preset removes
    one_epoch, _ = trl_args([f"data={data}", "method=[sft_cot,dpo]"], "sft_cot", tmp_path)
    assert one_epoch.max_steps == -1 and one_epoch.num_train_epochs == 1.0 and one_epoch.eval_strategy == "epoch"


def test_converged_budget_evaluates_within_the_epoch_and_stops_early(tmp_path):
    from fine_tune.stages.callbacks import RelativeEarlyStopping

    args, ctx = trl_args(["budget=converged", "method=[sft_cot,dpo]"], "sft_cot", tmp_path)
    assert (args.max_steps, args.num_train_epochs) == (-1, 3.0)  # the study's 3 epochs at most
    assert (args.eval_strategy, args.eval_steps, args.save_strategy, args.save_steps) == ("steps", 100, "steps", 100)
    assert args.load_best_model_at_end and args.metric_for_best_model == "eval_loss" and not args.greater_is_better
    assert args.restore_callback_states_from_checkpoint  # a resumed stage keeps its patience count
    [stopping] = ctx.budget_callbacks()
    assert isinstance(stopping, RelativeEarlyStopping)
    assert (stopping.early_stopping_patience, stopping.tolerance) == (2, 0.01)
    # dpo keeps its own budget: a tenth of an epoch, no early stopping
    dpo, dpo_ctx = trl_args(["budget=converged", "method=[sft_cot,dpo]"], "dpo", tmp_path)
    assert dpo.num_train_epochs == pytest.approx(0.1) and not dpo.load_best_model_at_end
    assert dpo_ctx.budget_callbacks() == []
    # debug=smoke's caps win (debug composes last): 6 steps, still evaluated a few times
    smoke, _ = trl_args(["budget=converged", "method=sft_cot", "debug=smoke"], "sft_cot", tmp_path)
    assert smoke.max_steps == 6 and smoke.eval_steps == smoke.save_steps == 1
    matched, _ = trl_args(["budget=matched_steps", "method=sft_cot", "debug=smoke"], "sft_cot", tmp_path)
    assert matched.max_steps == 6


def test_early_stopping_counts_relative_improvements():
    from transformers import TrainerControl, TrainerState

    from fine_tune.stages.callbacks import RelativeEarlyStopping

    class Args:
        metric_for_best_model, greater_is_better = "eval_loss", False

    stopping, state, control = RelativeEarlyStopping(2, 0.01), TrainerState(), TrainerControl()
    for loss, counter in [(2.0, 0), (1.9, 0), (1.89, 1), (1.80, 0), (1.79, 1), (1.785, 2)]:
        stopping.on_evaluate(Args, state, control, metrics={"eval_loss": loss})
        assert stopping.early_stopping_patience_counter == counter, loss
        state.best_metric = min(loss, state.best_metric or math.inf)  # as Trainer updates it after the callbacks
    assert control.should_training_stop  # two evaluations in a row under 1% of the best
    state.stateful_callbacks = {"RelativeEarlyStopping": stopping.state()}
    assert RelativeEarlyStopping.stopped(state)  # a checkpoint saved there is the stage's end


@pytest.mark.parametrize("counter,final", [(2, True), (1, False)])
def test_a_checkpoint_where_early_stopping_fired_is_the_stages_end(tmp_path, counter, final):
    """Killed after early stopping fired but before the stage was marked done: the rerun loads that checkpoint
    (and the best weights) instead of training past the point where the stage stopped."""
    from transformers import TrainerState

    from fine_tune.stages.common import _final_state

    state = TrainerState(global_step=300, max_steps=2955, stateful_callbacks={"RelativeEarlyStopping": {
        "args": {"early_stopping_patience": 2, "tolerance": 0.01},
        "attributes": {"early_stopping_patience_counter": counter}}})
    state.save_to_json(str(tmp_path / "trainer_state.json"))
    assert (_final_state(str(tmp_path)) is not None) is final


def test_convergence_fires_within_one_epoch_at_fractional_epochs():
    losses = [{"epoch": 0.2, "step": 100, "eval_loss": 2.0}, {"epoch": 0.4, "step": 200, "eval_loss": 1.5},
              {"epoch": 0.62, "step": 310, "eval_loss": 1.2}, {"epoch": 0.82, "step": 410, "eval_loss": 1.195},
              {"epoch": 1.0, "step": 500, "eval_loss": 1.19}]
    result = convergence_epoch(losses, 0.01)
    assert result == {"epoch": 0.62, "step": 310, "status": "converged", "epochs_seen": 1.0, "points": 5}
    improving = [{**e, "eval_loss": 2.0 * 0.9 ** i} for i, e in enumerate(losses)]
    assert convergence_epoch(improving, 0.01)["status"] == "not converged"
    assert convergence_epoch(losses[:1], 0.01) == {"epoch": None, "step": None, "status": "not converged",
                                                   "epochs_seen": 0.2, "points": 1}
    # the same evaluation logged twice is one point
    assert convergence_epoch(losses[:2] + [losses[1]], 0.01)["points"] == 2
    # the headline is the stage evaluated most often, not a one-point dpo stage
    stages = {"sft_cot": {"eval_loss_epochs": losses}, "dpo": {"eval_loss_epochs": [losses[0]]}}
    assert run_convergence(stages, 0.01)["stage"] == "sft_cot"


def test_stage_metrics_list_evaluations_during_training_with_their_steps():
    from fine_tune.stages.metrics import eval_points

    history = [{"loss": 2.0, "step": 1, "epoch": 0.1}, {"eval_loss": 1.9, "step": 100, "epoch": 0.2},
               {"eval_loss": 1.8, "step": 200, "epoch": 0.4}, {"train_runtime": 1.0, "step": 200, "epoch": 0.4},
               {"eval_loss": 1.7, "step": 200, "epoch": 0.4}]  # the final evaluation: the best weights
    assert eval_points(history, trained=4) == [{"epoch": 0.2, "step": 100, "eval_loss": 1.9},
                                               {"epoch": 0.4, "step": 200, "eval_loss": 1.8}]
    # a max_steps stage evaluates only at the end: that one point is its curve
    only_final = [history[0], history[3], history[4]]
    assert eval_points(only_final, trained=2) == [{"epoch": 0.4, "step": 200, "eval_loss": 1.7}]


def test_stage_keys_change_with_the_budget_and_stay_as_they_were_under_epochs():
    from fine_tune.stages.chain import stage_keys

    def keys(overrides, drop_budget=False):
        cfg = compose(["method=[sft_cot,dpo,grpo]", *overrides])
        if drop_budget:  # a config written before the budget group existed
            plain = OmegaConf.to_container(cfg)
            plain.pop("budget")
            cfg = OmegaConf.create(plain)
        return stage_keys(cfg, list(cfg.method), "base", {"train": "t", "eval": "e"})

    before = keys([], drop_budget=True)
    assert keys(["budget=epochs"]) == before  # earlier runs' stages stay reusable
    matched, converged = keys(["budget=matched_steps"]), keys(["budget=converged"])
    assert all(len({a, b, c}) == 3 for a, b, c in zip(before, matched, converged))
    assert keys(["budget=converged", "eval.convergence_tolerance=0.05"])[0] != converged[0]  # it decides the stop


@pytest.mark.parametrize("overrides,message", [
    (["budget.sft_steps=0"], "budget.sft_steps=0: must be at least 1"),
    (["budget.patience=0"], "budget.patience=0: must be at least 1"),
    (["budget.max_epochs=0"], "budget.max_epochs=0.0: must be a positive number"),
    (["budget=matched_steps", "method.sft_cot.max_steps=50"],
     "method.sft_cot.max_steps=50 conflicts with budget=matched_steps, which sets sft_cot's max_steps to 985"),
    (["experiment=reference_study", "budget=converged", "budget.max_epochs=2"],
     "method.sft_cot.num_train_epochs=3.0 conflicts with budget=converged"),
])
def test_budget_settings_out_of_range_or_in_conflict_are_one_line(overrides, message):
    from fine_tune.config_ranges import check_ranges

    with pytest.raises(UserError) as err:
        check_ranges(compose(overrides))
    assert str(err.value).startswith(message)
    check_ranges(compose(["experiment=reference_study", "budget=converged"]))  # its 3 epochs are the budget's
