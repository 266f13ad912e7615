"""The entrypoint, end to end on the smoke config: training, outputs, offline W&B."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import run_module
from wandb_offline import run_contents


def run_cli(run_dir: Path, cache_dir: Path, *overrides: str) -> subprocess.CompletedProcess:
    """A smoke-config job; the config's logger.mode decides W&B's mode, not this environment's."""
    return run_module(run_dir, cache_dir, "debug=smoke", f"hydra.run.dir={run_dir}", *overrides, unset=("WANDB_MODE",))


@pytest.fixture(scope="module")
def full_run(tmp_path_factory, cache_dir):
    """A stage that really trains: a cache of its own (the session's built models linked in), so no
    earlier test's identical stage is reused, whatever order the tests run in."""
    run_dir = tmp_path_factory.mktemp("e2e") / "run"
    own_cache = tmp_path_factory.mktemp("e2e_cache")
    (cache_dir / "models").mkdir(exist_ok=True)
    (own_cache / "models").symlink_to(cache_dir / "models", target_is_directory=True)
    result = run_cli(run_dir, own_cache, "method=sft_cot")
    return run_dir, result


def test_training_loss_went_down(full_run):
    run_dir, _ = full_run
    metrics = json.loads((run_dir / "metrics.json").read_text())
    stage = metrics["stages"]["sft_cot"]
    losses = [s["loss"] for s in stage["train_loss_steps"]]
    assert len(losses) >= 3
    assert losses[-1] < losses[0], losses


def test_outputs_exist(full_run):
    run_dir, result = full_run
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] == "finished"
    stage = metrics["stages"]["sft_cot"]
    for key in ("eval_loss", "runtime_s", "tokens_per_s", "peak_memory_mb", "train_loss_epochs"):
        assert stage[key], key
    assert 0 <= metrics["base"]["accuracy"] <= 1 and metrics["tuned"]["total"] == 8
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert {"git_sha", "packages", "data_fingerprint", "seed", "device"} <= set(manifest)
    assert manifest["packages"]["trl"] and manifest["seed"] == 42
    assert (run_dir / ".hydra" / "config.yaml").is_file()
    assert (run_dir / "01-sft_cot" / "model" / "model.safetensors").is_file()  # the tiny model trains fully
    assert len((run_dir / "generations" / "tuned.jsonl").read_text().splitlines()) == 8
    assert "checker accuracy" in result.stdout


def test_offline_wandb_run_holds_the_metrics(full_run):
    run_dir, _ = full_run
    files = list((run_dir / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(files) == 1
    contents = run_contents(files[0])
    assert contents["run"]["job_type"] == "sft_cot"
    assert contents["run"]["group"] == run_dir.name and contents["run"]["project"] == "fine-tune"
    assert {"method:sft_cot", "data:curated", "model:tiny", "budget:epochs", "seed:42"} <= set(contents["run"]["tags"])
    logged = [row["train/loss"] for row in contents["history"] if "train/loss" in row]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert logged == pytest.approx([s["loss"] for s in metrics["stages"]["sft_cot"]["train_loss_steps"]])
    assert contents["summary"]["final/tuned_accuracy"] == metrics["tuned"]["accuracy"]
    # the curation steps, as a W&B table (its fields arrive as nested keys)
    assert contents["summary"]["data/curation/_type"] == "table-file"
    assert contents["summary"]["data/curation/nrows"] == len(metrics["data"]["steps"]) > 0
    assert contents["config"]["data"]["name"] == "curated"
    # the evaluation: WinRate, DeepEval and loss as summary metrics, generations with verdicts as a table
    win = metrics["eval"]["winrate"]
    assert contents["summary"]["eval/winrate/win_rate"] == win["win_rate"]
    assert contents["summary"]["eval/winrate/ci_low"] == win["ci_low"]
    assert contents["summary"]["eval/deepeval_accuracy"] == metrics["eval"]["deepeval"]["accuracy"]
    assert contents["summary"]["eval/loss"] == metrics["eval"]["loss"]["eval_loss"]
    assert contents["summary"]["eval/samples/_type"] == "table-file" and contents["summary"]["eval/samples/nrows"] == 8


def test_lora_stage_saves_an_adapter_that_loads(tmp_path, cache_dir):
    run_dir = tmp_path / "run"
    run_cli(run_dir, cache_dir, "method=sft", "method.sft.finetune=lora", "logger=none")
    adapter = run_dir / "01-sft" / "adapter"
    assert (adapter / "adapter_config.json").is_file() and (adapter / "adapter_model.safetensors").is_file()
    from peft import PeftConfig

    assert PeftConfig.from_pretrained(str(adapter)).r == 16
    assert not (run_dir / "wandb").exists()  # logger=none logs nothing
    metrics = json.loads((run_dir / "metrics.json").read_text())
    losses = [s["loss"] for s in metrics["stages"]["sft"]["train_loss_steps"]]
    assert losses[-1] < losses[0]
