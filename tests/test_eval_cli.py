"""`fine-tune-eval`: evaluate a finished run again; secrets stay out of every file; bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO
from judge_server import JudgeServer
from test_end_to_end import run_cli

SECRET = "sk-never-written-7f3a9c"


def eval_cli(run_dir: Path, cache_dir: Path, *overrides: str, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = dict(os.environ, FINE_TUNE_CACHE=str(cache_dir), PYTHONPATH=str(REPO), **(env or {}))
    return subprocess.run([sys.executable, "-m", "fine_tune.eval_cli", str(run_dir), *overrides],
                          env=full_env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, cache_dir):
    run_dir = tmp_path_factory.mktemp("evalcli") / "run"
    run_cli(run_dir, cache_dir, "method=sft_cot", "seed=7")  # its own stage key: trained here, not reused
    return run_dir


def test_a_run_records_loss_winrate_and_deepeval(finished_run):
    metrics = json.loads((finished_run / "metrics.json").read_text())
    results = metrics["eval"]
    assert results["loss"]["eval_loss"] > 0 and results["loss"]["rows"] == 8
    assert metrics["eval_loss"] == results["loss"]["eval_loss"]
    win = results["winrate"]
    assert win["baseline"] == "base" and win["judge"] == "verifiable:correctness" and win["judged"] == 8
    assert win["wins"] + win["losses"] + win["ties"] == 8 and win["ci_low"] <= win["win_rate"] <= win["ci_high"]
    assert results["deepeval"]["accuracy"] == pytest.approx(metrics["tuned"]["accuracy"])
    assert len((finished_run / "eval" / "tuned_judgments.jsonl").read_text().splitlines()) == 8


def test_reevaluation_changes_the_baseline_without_retraining(finished_run, cache_dir):
    before = json.loads((finished_run / "metrics.json").read_text())
    generated = (finished_run / "generations" / "tuned.jsonl").stat().st_mtime_ns
    result = eval_cli(finished_run, cache_dir, "eval.baseline=reference", "logger.name=none")
    assert result.returncode == 0, result.stderr[-2000:]
    after = json.loads((finished_run / "metrics.json").read_text())
    assert after["eval"]["winrate"]["baseline"] == "reference"
    assert after["stages"] == before["stages"]  # nothing retrained
    assert after["reevaluations"][-1]["overrides"] == ["eval.baseline=reference", "logger.name=none"]
    assert (finished_run / "generations" / "tuned.jsonl").stat().st_mtime_ns == generated  # generations reused
    assert "WinRate vs reference" in result.stdout


def test_an_endpoint_key_never_reaches_a_file_or_the_logs(finished_run, cache_dir):
    with JudgeServer(lambda prompt: "Both fine, but [[A]]") as server:
        result = eval_cli(finished_run, cache_dir, "eval.judge.kind=llm", f"eval.judge.url={server.url}",
                          "eval.judge.model=judge-model", "eval.judge.api_key_env=FT_JUDGE_KEY",
                          "eval.judge.max_retries=0", "logger.mode=offline", env={"FT_JUDGE_KEY": SECRET})
    assert result.returncode == 0, result.stderr[-2000:]
    assert server.requests and all(r["auth"] == f"Bearer {SECRET}" for r in server.requests)  # the key was used
    metrics = json.loads((finished_run / "metrics.json").read_text())
    assert metrics["eval"]["winrate"]["judge"].startswith("llm:endpoint:")
    assert SECRET not in result.stdout + result.stderr
    for path in finished_run.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


def _refused(monkeypatch, capsys, cache_dir, run_dir, *overrides) -> str:
    """stderr of `fine-tune-eval run_dir overrides`, run in this process, which must exit 2."""
    from fine_tune.eval_cli import main

    monkeypatch.setenv("FINE_TUNE_CACHE", str(cache_dir))
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main([str(run_dir), *overrides])
    assert exit_info.value.code == 2
    return capsys.readouterr().err


def test_bad_input_is_one_line(finished_run, cache_dir, tmp_path, monkeypatch, capsys):
    refused = lambda run_dir, *overrides: _refused(monkeypatch, capsys, cache_dir, run_dir, *overrides)  # noqa: E731
    not_a_run = refused(tmp_path)
    assert "is not a fine-tune run folder: expected" in not_a_run and "Traceback" not in not_a_run
    assert "generations/tuned.jsonl" in refused(finished_run, f"eval.baseline={tmp_path}", "logger.name=none")
    assert "eval.* and logger.*" in refused(finished_run, "method.sft_cot.learning_rate=1")
    assert "did you mean 'kind'" in refused(finished_run, "eval.judge.kindd=llm")
    unreachable = refused(finished_run, "eval.judge.kind=llm", "eval.judge.url=http://127.0.0.1:9/v1",
                          "eval.judge.model=m", "eval.judge.max_retries=0", "eval.deepeval=false", "logger.name=none")
    assert "unreachable" in unreachable
    errors = [line for line in unreachable.splitlines() if "error" in line.lower()]
    assert len(errors) == 1 and "Traceback" not in unreachable, unreachable  # progress bars aside


def test_logger_can_be_chosen_as_a_group_as_in_fine_tune(tmp_path):
    from omegaconf import OmegaConf

    from fine_tune.config import compose
    from fine_tune.errors import UserError
    from fine_tune.eval_cli import load_run_config

    (tmp_path / ".hydra").mkdir()
    (tmp_path / ".hydra" / "config.yaml").write_text(OmegaConf.to_yaml(compose(["logger=wandb"])))
    (tmp_path / "metrics.json").write_text("{}")
    cfg = load_run_config(tmp_path, ["logger=none", "eval.max_prompts=4"])
    assert cfg.logger.name == "none" and cfg.logger.mode == "disabled" and cfg.eval.max_prompts == 4
    with pytest.raises(UserError, match=r"logger=nope: no such option: choose one of none, wandb"):
        load_run_config(tmp_path, ["logger=nope"])


def test_a_folder_that_is_not_a_run_answers_before_the_heavy_imports(tmp_path):
    code = ("import sys\nfrom fine_tune.eval_cli import main\ntry:\n    main([sys.argv[1]])\nexcept SystemExit:\n"
            "    print(sorted(m for m in ('torch', 'transformers', 'trl') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, cwd=REPO,
                            timeout=120, env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert "is not a fine-tune run folder" in result.stderr and result.stdout.strip() == "[]"


def test_a_reevaluation_logs_a_wandb_run_under_the_last_stage_tagged_reeval(finished_run, cache_dir):
    from wandb_offline import run_contents

    before = set((finished_run / "wandb").glob("offline-run-*/run-*.wandb"))
    result = eval_cli(finished_run, cache_dir)  # the run's own logger: W&B, offline
    assert result.returncode == 0, result.stderr[-2000:]
    (new,) = set((finished_run / "wandb").glob("offline-run-*/run-*.wandb")) - before
    run = run_contents(new)["run"]
    assert run["job_type"] == "sft_cot" and "reeval" in run["tags"]  # grouped with the stage it evaluates
