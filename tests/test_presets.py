"""Every experiment preset composes, and its sweep expands to the jobs the study needs."""

from __future__ import annotations

import pytest
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from fine_tune.config import compose


def expand(preset: str) -> list[dict[str, str]]:
    """The jobs `fine-tune -m experiment=<preset>` launches, each as {key: value}."""
    cfg = compose([f"experiment={preset}"], return_hydra_config=True)
    params = [f"{key}={value}" for key, value in cfg.hydra.sweeper.params.items()]
    parsed = OverridesParser.create().parse_overrides(params)
    batches = BasicSweeper.split_arguments(parsed, max_batch_size=None)
    return [dict(item.split("=", 1) for item in job) for batch in batches for job in batch]


def test_method_comparison_has_every_method_on_both_data_sets():
    jobs = expand("method_comparison")
    pairs = {(job["data"], job["method"]) for job in jobs}
    methods = {"[sft]", "[sft_cot]", "[sft_cot,dpo]", "[sft_cot,dpo,grpo]", "[thinking]"}
    assert pairs == {(data, method) for data in ("raw", "curated") for method in methods}
    cfg = compose(["experiment=method_comparison", "data=raw", "method=[sft_cot,dpo,grpo]"], return_hydra_config=True)
    assert list(cfg.method) == ["sft_cot", "dpo", "grpo"] and cfg.data.name == "raw"
    assert cfg.study == "method_comparison" and cfg.hydra.launcher.n_jobs == 2
    assert cfg.hydra.launcher._target_.endswith("JoblibLauncher")
    # the study's conditions: raw trains on all of its rows, every eval prompt is scored, no stage is capped
    assert cfg.data.max_samples is None and cfg.eval.max_prompts is None and cfg.debug.max_steps is None


def test_dataset_size_covers_sizes_and_the_full_sets():
    jobs = expand("dataset_size")
    assert len(jobs) == 8 and {"null", "1000", "6000"} <= {job["data.max_samples"] for job in jobs}
    assert list(compose(["experiment=dataset_size"]).method) == ["sft_cot", "dpo"]


def test_equal_budget_runs_curated_and_raw_at_both_budgets():
    jobs = expand("equal_budget")
    cells = sorted((job["data"], job["budget"], job["method"]) for job in jobs)
    assert cells == sorted((data, budget, method) for data in ("raw", "curated")
                           for budget in ("matched_steps", "converged") for method in ("[sft_cot]", "[sft_cot,dpo]"))
    cfg = compose(["experiment=equal_budget", "budget=converged"], return_hydra_config=True)
    assert cfg.study == "equal_budget" and cfg.hydra.launcher.n_jobs == 2 and cfg.budget.name == "converged"
    # each job's folder names its budget: the preset's subdir, not the primary config's, is the one used
    for preset, tail in (("equal_budget", "_${budget.name}"), ("seeds", "_seed${seed}"),
                         ("dataset_size", "_n${data.max_samples}")):
        sweep = compose([f"experiment={preset}"], return_hydra_config=True).hydra.sweep
        assert OmegaConf.to_container(sweep)["subdir"].endswith(tail), preset
    # the step counts themselves: tests/test_budget.py


def test_cleaning_switches_one_step_off_at_a_time():
    jobs = [job["ablate"] for job in expand("cleaning")]
    assert jobs[0] == "none" and len(jobs) == 6
    for ablation in jobs[1:]:
        step = ablation.removeprefix("no_")
        curation = compose(["experiment=cleaning", f"ablate={ablation}"]).data.curation
        off = [name for name in ("exact_dedup", "noise", "near_dedup", "decontamination", "balance")
               if not curation[name].enabled]
        assert off == [step]
    assert all(compose(["experiment=cleaning", "ablate=none"]).data.curation[s].enabled
               for s in ("exact_dedup", "noise", "near_dedup", "decontamination", "balance"))


def test_seeds_run_the_method_comparison_three_times():
    jobs = expand("seeds")
    comparison = {(job["data"], job["method"]) for job in expand("method_comparison")}
    assert sorted((job["data"], job["method"], job["seed"]) for job in jobs) == sorted(
        (data, method, seed) for data, method in comparison for seed in ("1", "2", "3"))


def test_optuna_search_preset():
    cfg = compose(["hparams_search=optuna"], return_hydra_config=True)
    sweeper = cfg.hydra.sweeper
    assert sweeper._target_.endswith("OptunaSweeper") and sweeper.direction == "maximize"
    assert set(sweeper.params) == {"model.learning_rate", "method.sft_cot.lora.r", "method.dpo.beta"}
    assert cfg.objective == "eval.winrate.win_rate" and cfg.model.finetune.value == "lora"


@pytest.mark.parametrize("preset", ["method_comparison", "dataset_size", "cleaning", "seeds", "equal_budget"])
def test_presets_keep_the_study_name(preset):
    assert compose([f"experiment={preset}"]).study == preset


def test_slurm_launcher_preset():
    launcher = compose(["hydra/launcher=slurm"], return_hydra_config=True).hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    assert (launcher.partition, launcher.gpus_per_node, launcher.timeout_min) == ("gpu", 1, 240)
