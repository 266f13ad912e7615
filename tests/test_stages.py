"""DPO, GRPO and thinking stages, chains, skip and resume, instability, export, bad input."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import REPO, run_module, shared_data
from safetensors.torch import load_file


def cli(run_dir: Path, cache: Path, *overrides: str, check: bool = True, module: str = "fine_tune"):
    """A smoke-config job without W&B."""
    return run_module(run_dir, cache, "debug=smoke", "logger=none", f"hydra.run.dir={run_dir}", *overrides,
                      module=module, check=check, unset=("HYDRA_FULL_ERROR",))


def weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "model" / "model.safetensors"))


def distance(a: dict, b: dict) -> float:
    return sum(float((a[k].float() - b[k].float()).norm()) for k in a)


@pytest.fixture(scope="module")
def chain(tmp_path_factory, cache_dir):
    """One run of every trainer in a chain: sft_cot -> dpo -> grpo (full fine-tune of the smoke model)."""
    run_dir = tmp_path_factory.mktemp("chain") / "run"
    result = cli(run_dir, cache_dir, "method=[sft_cot,dpo,grpo]", "eval.per_stage=true")
    return run_dir, result


def test_per_stage_evaluation(chain):
    run_dir, _ = chain
    metrics = json.loads((run_dir / "metrics.json").read_text())
    for index, name in ((1, "sft_cot"), (2, "dpo")):  # the last stage's evaluation is the run's own
        results = metrics["stages"][name]["eval"]
        assert results["winrate"]["judged"] == 8 and results["accuracy"]["total"] == 8
        assert (run_dir / "generations" / f"{index:02d}-{name}.jsonl").is_file()
    assert "eval" not in metrics["stages"]["grpo"] and metrics["eval"]["winrate"]["judged"] == 8


def test_each_stage_trains_and_changes_the_weights(chain, cache_dir):
    run_dir, _ = chain
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] == "finished" and metrics["stages_order"] == ["sft_cot", "dpo", "grpo"]
    base = load_file(str(next((cache_dir / "models").glob("tiny-*/model.safetensors"))))
    previous = base
    for folder in ("01-sft_cot", "02-dpo", "03-grpo"):
        current = weights(run_dir / folder)
        assert distance(current, previous) > 0, f"{folder} did not change the weights"
        assert (run_dir / folder / "done.json").is_file()
        previous = current
    dpo = metrics["stages"]["dpo"]["logged"]
    assert {"rewards/margins", "rewards/accuracies"} <= set(dpo)
    assert all(stage["tokens_per_s"] > 0 and stage["peak_memory_mb"] > 0 for stage in metrics["stages"].values())
    grpo = metrics["stages"]["grpo"]["logged"]
    assert {"reward", "reward_std", "kl", "rewards/correctness/mean", "rewards/answer_format/mean"} <= set(grpo)


def test_second_stage_starts_from_the_first(chain):
    """DPO's weights are nearer SFT's output than the base: started from the base they would be nearer it.

    With DPO's update d and SFT's s (roughly orthogonal): from SFT, |dpo - sft| = |d| < |s + d| = |dpo - base|;
    from the base, |dpo - sft| = |d - s| > |d| = |dpo - base|.
    """
    run_dir, _ = chain
    manifest = json.loads((run_dir / "manifest.json").read_text())
    base = load_file(str(Path(manifest["base_model"]) / "model.safetensors"))
    sft, dpo = weights(run_dir / "01-sft_cot"), weights(run_dir / "02-dpo")
    assert 0 < distance(dpo, sft) < distance(dpo, base)
    assert json.loads((run_dir / "metrics.json").read_text())["stages"]["dpo"]["global_steps"] >= 1


def test_rerun_skips_finished_stages(chain, cache_dir, tmp_path):
    first, _ = chain
    result = cli(tmp_path / "again", cache_dir, "method=[sft_cot,dpo,grpo]")
    metrics = json.loads((tmp_path / "again" / "metrics.json").read_text())
    assert all(stage["skipped"] for stage in metrics["stages"].values())
    assert metrics["stages"]["sft_cot"]["reused_from"] == str((first / "01-sft_cot").resolve())
    assert (tmp_path / "again" / "03-grpo" / "model" / "model.safetensors").stat().st_ino == \
        (first / "03-grpo" / "model" / "model.safetensors").stat().st_ino  # stored once, linked
    assert "already finished" in result.stdout + result.stderr
    # same weights, so the same tuned generations
    assert (tmp_path / "again" / "generations" / "tuned.jsonl").read_text() == \
        (first / "generations" / "tuned.jsonl").read_text()


def test_export_loads_with_plain_transformers(chain, tmp_path):
    from transformers import AutoModelForCausalLM

    run_dir, _ = chain
    env = dict(os.environ, PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, "-m", "fine_tune.export", str(run_dir), "--out", str(tmp_path / "x")],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    exported = AutoModelForCausalLM.from_pretrained(str(tmp_path / "x"))
    final = AutoModelForCausalLM.from_pretrained(str(run_dir / "03-grpo" / "model"))
    ids = torch.tensor([[5, 6, 7, 8]])
    with torch.no_grad():
        assert torch.allclose(exported(ids).logits, final(ids).logits)
    bad = subprocess.run([sys.executable, "-m", "fine_tune.export", str(tmp_path)], capture_output=True, text=True,
                         env=env, timeout=120)
    assert bad.returncode == 2 and "not a fine-tune run folder" in bad.stderr and "Traceback" not in bad.stderr


def test_thinking_with_lora_trains_an_adapter(tmp_path, cache_dir):
    run_dir = tmp_path / "run"
    cli(run_dir, cache_dir, "method=thinking", "method.thinking.finetune=lora")
    adapter = load_file(str(run_dir / "01-thinking" / "adapter" / "adapter_model.safetensors"))
    assert any(float(t.abs().sum()) > 0 for k, t in adapter.items() if "lora_B" in k)  # B starts at zero
    generations = [json.loads(line) for line in (run_dir / "generations" / "tuned.jsonl").read_text().splitlines()]
    assert generations and all("extracted" in g for g in generations)


def test_model_bf16_trains_under_bfloat16_autocast_on_a_cpu(tmp_path, cache_dir):
    """model.bf16=true: every stage's trainer autocasts to bfloat16, on a CPU too; the default stays float32."""
    from trl import DPOConfig, SFTConfig

    from fine_tune.config import compose
    from fine_tune.stages.common import StageContext, training_arguments

    for overrides, expected in ((["model.bf16=true"], True), ([], False)):
        cfg = compose(["method=[sft_cot,dpo]", *overrides])
        for index, (stage, config_class) in enumerate((("sft_cot", SFTConfig), ("dpo", DPOConfig)), start=1):
            ctx = StageContext.from_config(cfg, stage, index, out_dir=tmp_path / stage)
            assert training_arguments(ctx, config_class).bf16 is expected, (stage, overrides)
    run_dir = tmp_path / "run"
    cli(run_dir, cache_dir, "method=[sft_cot,dpo]", "model.bf16=true")
    stages = json.loads((run_dir / "metrics.json").read_text())["stages"]
    assert all(math.isfinite(stages[name]["final_train_loss"]) for name in ("sft_cot", "dpo")), stages


def test_injected_nan_marks_the_run_unstable(tmp_path, cache_dir):
    run_dir = tmp_path / "run"
    result = cli(run_dir, cache_dir, "method=[sft,dpo]", "debug.inject_nan_at_step=2")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] == "unstable" and "non-finite loss" in metrics["unstable_reason"]
    assert "dpo" not in metrics["stages"]  # the chain stops at the broken stage
    assert "run unstable" in result.stdout


def test_killed_stage_resumes_from_its_checkpoint(tmp_path, cache_dir):
    args = ["method=sft", "debug.max_steps=60", "method.sft.save_steps=5", "eval.enabled=false"]
    env = dict(os.environ, FINE_TUNE_CACHE=str(cache_dir), PYTHONPATH=str(REPO))
    cmd = [sys.executable, "-m", "fine_tune", "debug=smoke", "logger=none", *args]
    proc = subprocess.Popen([*cmd, f"hydra.run.dir={tmp_path / 'first'}"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    checkpoints = tmp_path / "first" / "01-sft" / "checkpoints"
    deadline = time.time() + 300
    while time.time() < deadline and not list(checkpoints.glob("checkpoint-*/trainer_state.json")):
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    saved = sorted((p.parent for p in checkpoints.glob("checkpoint-*/trainer_state.json")),
                   key=lambda p: int(p.name.split("-")[1]))
    assert saved, "no checkpoint was written before the kill"
    step = int(saved[-1].name.split("-")[1])
    assert not (tmp_path / "first" / "01-sft" / "done.json").exists()
    result = subprocess.run([*cmd, f"hydra.run.dir={tmp_path / 'second'}"], env=env, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    output = result.stdout + result.stderr
    assert "resumes from" in output and "checkpoint-" in output
    metrics = json.loads((tmp_path / "second" / "metrics.json").read_text())
    stage = metrics["stages"]["sft"]
    assert stage["global_steps"] == 60 and 0 < step < 60
    assert stage["resumed_from"].endswith(f"checkpoint-{step}")


def test_converged_budget_stops_early_within_the_epoch(tmp_path, cache_dir):
    """budget=converged on a smoke run: evaluated every step (a fifth of its 6), stopped once two evaluations in a
    row miss the tolerance (50% here, so it must fire), and the convergence rule places it within the epoch."""
    run_dir = tmp_path / "run"
    cli(run_dir, cache_dir, "method=sft_cot", "budget=converged", "eval.convergence_tolerance=0.5")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    stage = metrics["stages"]["sft_cot"]
    assert stage["budget"] == "converged" and stage["global_steps"] == 3 < stage["max_steps"] == 6
    assert [point["step"] for point in stage["eval_loss_epochs"]] == [1, 2, 3]
    convergence = metrics["eval"]["convergence"]
    assert convergence["status"] == "converged" and convergence["step"] == 1 and 0 < convergence["epoch"] < 1
    assert (run_dir / "01-sft_cot" / "done.json").is_file() and not (run_dir / "01-sft_cot" / "checkpoints").exists()


@pytest.mark.parametrize(
    "overrides,expected",
    [
        (["method=[sft,dpo,sft]"], "method names sft twice"),
        (["backend=unsloth"], "backend=unsloth needs a CUDA GPU"),
        (["method=grpo", "data.source.path={alpaca}"], "the data has no checker"),
        (["method=dpo", "data.source.path={alpaca}"], "method dpo needs preference pairs"),
        # LoRA settings that full fine-tuning would silently ignore, or PEFT would reject deep inside
        (["method.sft_cot.lora.r=8"], "method.sft_cot.finetune is full"),
        (["model.finetune=lora", "method.sft_cot.lora.r=0"], "r and alpha must be >= 1"),
        (["model.finetune=lora", "method=sft_cot", "method.sft_cot.lora.target_modules=[q_proj,nope]"],
         "nope, which this model does not have"),
        # 0 would read as "no cap" and score every row
        (["eval.max_loss_rows=0"], "eval.max_loss_rows=0: must be at least 1"),
    ],
)
def test_bad_input_is_one_line(tmp_path, cache_dir, overrides, expected):
    alpaca = shared_data("llamafactory_demo") / "alpaca_en_demo.json"
    result = cli(tmp_path / "run", cache_dir, *[o.format(alpaca=alpaca) for o in overrides], check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    lines = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(lines) == 1 and expected in lines[0], result.stderr[-2000:]
