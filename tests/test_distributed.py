"""One job on two processes (gloo on the CPU): launched as `accelerate launch` does, end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import REPO

pytestmark = pytest.mark.slow


def test_a_two_process_job_trains_and_writes_once(tmp_path, cache_dir):
    run_dir = tmp_path / "ddp"
    env = dict(os.environ, FINE_TUNE_CACHE=str(cache_dir), PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29531",
               "-m", "fine_tune", "debug=smoke", "logger=none", "method=[sft_cot,dpo]", f"hydra.run.dir={run_dir}"]
    result = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] == "finished" and metrics["stages_order"] == ["sft_cot", "dpo"]
    # TRL shards the batches: 2 processes x batch 4 = 8 rows a step (debug=smoke), so 6 steps see 48 rows
    sft = metrics["stages"]["sft_cot"]
    assert sft["global_steps"] == 6 and sft["final_train_loss"] < sft["first_train_loss"]
    assert (run_dir / "02-dpo" / "done.json").is_file() and metrics["eval"]["winrate"]["judged"] == 8
    assert sft["processes"] == 2 and sft["distributed_backend"] == "gloo"  # what TRL's trainer ran under


def test_a_multi_process_job_needs_one_folder(tmp_path, cache_dir):
    env = dict(os.environ, FINE_TUNE_CACHE=str(cache_dir), PYTHONPATH=str(REPO), WORLD_SIZE="2", RANK="0")
    result = subprocess.run([sys.executable, "-m", "fine_tune", "debug=smoke", "logger=none"], env=env,
                            cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "hydra.run.dir=<folder>" in result.stderr
