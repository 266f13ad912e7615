"""Sweeps from the shell: joblib and submitit_local launchers, a failing job, a rerun that skips."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

from fine_tune.jobs import objective_value

pytestmark = pytest.mark.slow


def sweep(sweep_dir: Path, cache_dir: Path, *overrides: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, FINE_TUNE_CACHE=str(cache_dir), PYTHONPATH=str(REPO))
    result = subprocess.run(
        [sys.executable, "-m", "fine_tune", "-m", "debug=smoke", "logger=none", "eval.loss=false",
         f"hydra.sweep.dir={sweep_dir}", *overrides],
        cwd=sweep_dir.parent, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def job_metrics(sweep_dir: Path) -> dict[str, dict]:
    return {job.name: json.loads((job / "metrics.json").read_text())
            for job in sorted(sweep_dir.iterdir()) if (job / ".hydra").is_dir()}


@pytest.fixture(scope="module")
def joblib_sweep(tmp_path_factory, cache_dir):
    """Two jobs in parallel; the second names a model folder that does not exist, so it fails."""
    sweep_dir = tmp_path_factory.mktemp("sweeps") / "first"
    result = sweep(sweep_dir, cache_dir, "method=sft", "model.path=null,/nonexistent/model",
                   "hydra/launcher=joblib", "hydra.launcher.n_jobs=2")
    return sweep_dir, result


def test_a_failing_job_is_recorded_and_the_others_finish(joblib_sweep):
    sweep_dir, _ = joblib_sweep
    metrics = job_metrics(sweep_dir)
    assert sorted(metrics) == ["0_curated_sft", "1_curated_sft"]
    assert metrics["0_curated_sft"]["status"] == "finished"
    failed = metrics["1_curated_sft"]
    assert failed["status"] == "failed" and "model.path" in failed["error"]


def test_the_comparison_table_marks_the_failed_job(joblib_sweep):
    from fine_tune.compare.cli import main

    sweep_dir, _ = joblib_sweep
    main([str(sweep_dir), "--wandb", "disabled"])
    table = (sweep_dir / "comparison.md").read_text()
    assert "failed" in table and "finished" in table
    assert (sweep_dir / "loss_curves.png").stat().st_size > 0 and (sweep_dir / "index.html").is_file()


def test_a_rerun_skips_the_jobs_that_finished(joblib_sweep, cache_dir):
    first_dir, _ = joblib_sweep
    again_dir = first_dir.parent / "again"
    sweep(again_dir, cache_dir, "method=sft", "model.path=null,/nonexistent/model",
          "hydra/launcher=joblib", "hydra.launcher.n_jobs=2")
    metrics = job_metrics(again_dir)
    reused = metrics["0_curated_sft"]
    assert reused["reused_from"] == str((first_dir / "0_curated_sft").resolve())
    assert reused["stages"] == job_metrics(first_dir)["0_curated_sft"]["stages"]
    assert (again_dir / "0_curated_sft" / "generations" / "tuned.jsonl").is_file()
    assert (again_dir / "0_curated_sft" / "01-sft" / "done.json").is_file()
    assert not (again_dir / "0_curated_sft" / "01-sft").is_symlink()  # its own folder: hard links, not a link
    assert any((again_dir / "0_curated_sft" / "01-sft").glob("*/*.safetensors"))
    assert metrics["1_curated_sft"]["status"] == "failed"  # a failed job is tried again, not copied


def test_submitit_local_runs_a_job(tmp_path, cache_dir):
    sweep_dir = tmp_path / "submitit"
    sweep(sweep_dir, cache_dir, "method=sft", "data=raw", "seed=5", "hydra/launcher=submitit_local",
          "hydra.launcher.timeout_min=10", "hydra.launcher.cpus_per_task=1")
    (job,) = job_metrics(sweep_dir).values()
    assert job["status"] == "finished" and job["data"]["name"] == "raw"


def test_the_objective_is_read_from_metrics():
    metrics = {"tuned": {"accuracy": 0.25}, "eval": {"winrate": {"win_rate": None}}}
    assert objective_value(metrics, "tuned.accuracy") == 0.25
    assert math.isnan(objective_value(metrics, "eval.winrate.win_rate"))
    assert math.isnan(objective_value(metrics, "no.such.key"))


def test_an_optuna_search_runs_trials_and_reports_the_best(tmp_path, cache_dir):
    sweep_dir = tmp_path / "optuna"
    sweep(sweep_dir, cache_dir, "hparams_search=optuna", "debug.max_steps=3", "hydra.sweeper.n_trials=2",
          "objective=tuned.accuracy")
    trials = job_metrics(sweep_dir)
    assert len(trials) == 2 and all(m["status"] == "finished" for m in trials.values())
    results = (sweep_dir / "optimization_results.yaml").read_text()
    assert "best_params" in results and "model.learning_rate" in results
    # the study, kept for the next run of the same search; debug=smoke names its own (fine_tune.cli)
    storage = cache_dir / "optuna" / "hparams_search_curated_sft_cot+dpo_smoke.sqlite"
    assert storage.stat().st_size > 0


def test_parallel_jobs_sharing_a_stage_train_it_once(tmp_path, cache_dir):
    """Two jobs start `sft` with the same settings at once: one trains it, the other waits and reuses it."""
    sweep_dir = tmp_path / "shared"
    sweep(sweep_dir, cache_dir, "method=choice([sft],[sft,dpo])", "seed=11", "hydra/launcher=joblib",
          "hydra.launcher.n_jobs=2")
    metrics = list(job_metrics(sweep_dir).values())
    assert all(m["status"] == "finished" for m in metrics)
    sft = [m["stages"]["sft"] for m in metrics]
    assert sorted(bool(s.get("skipped")) for s in sft) == [False, True]
    assert sft[0]["train_loss_steps"] == sft[1]["train_loss_steps"]
    assert sft[0]["resumed_from"] is None and sft[1]["resumed_from"] is None  # nobody adopted a half-trained folder
