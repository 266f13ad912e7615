"""Sweeps on a real Slurm cluster: one node on this machine (scripts/slurm_local.sh), jobs via submitit.

The cluster is Debian's slurm-wlm and munge, installed when missing (CI runs as root) and started
from a temporary folder; the fixture stops exactly the daemons it started. Where that cannot be
done (no root, no apt-get) the tests skip and say why.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO

pytestmark = pytest.mark.slow
SCRIPT = REPO / "scripts" / "slurm_local.sh"


@pytest.fixture(scope="module")
def slurm(tmp_path_factory) -> dict:
    """The environment of a running one-node cluster (SLURM_CONF set), stopped afterwards."""
    folder = tmp_path_factory.mktemp("slurm")
    started = subprocess.run(["bash", str(SCRIPT), "start", str(folder)], capture_output=True, text=True,
                             timeout=600)
    if started.returncode != 0:
        subprocess.run(["bash", str(SCRIPT), "stop", str(folder)], capture_output=True, timeout=60)
        pytest.skip(f"no local Slurm cluster: {started.stderr.strip().splitlines()[-1:]}")
    env = dict(os.environ, SLURM_CONF=str(folder / "slurm.conf"))
    yield env
    subprocess.run(["bash", str(SCRIPT), "stop", str(folder)], check=True, timeout=60)
    pids = [folder / "slurmctld.pid", folder / "slurmd.pid", folder / "munge" / "munged.pid"]
    assert not any(p.exists() for p in pids)


def _command(sweep_dir: Path, *overrides: str) -> list[str]:
    return [sys.executable, "-m", "fine_tune", "-m", "debug=smoke", "hydra/launcher=slurm_local",
            f"hydra.sweep.dir={sweep_dir}", *overrides]


def _sweep(env: dict, cache_dir: Path, sweep_dir: Path, *overrides: str) -> None:
    env = dict(env, FINE_TUNE_CACHE=str(cache_dir), PYTHONPATH=str(REPO))
    done = subprocess.run(_command(sweep_dir, *overrides), env=env, cwd=sweep_dir.parent, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]


def _job(sweep_dir: Path, name: str) -> tuple[dict, dict | None]:
    folder = sweep_dir / name
    manifest = folder / "manifest.json"
    return (json.loads((folder / "metrics.json").read_text()),
            json.loads(manifest.read_text()) if manifest.is_file() else None)


def test_a_sweep_runs_its_jobs_under_slurm_records_the_failing_one_and_a_rerun_skips_the_finished(
        slurm, cache_dir, tmp_path):
    first = tmp_path / "first"
    _sweep(slurm, cache_dir, first, "method=sft", "model.path=null,/nonexistent/model", "logger=wandb",
           "logger.mode=offline", "seed=403")
    metrics, manifest = _job(first, "0_curated_sft")
    assert metrics["status"] == "finished"
    scheduler = manifest["scheduler"]
    assert scheduler["name"] == "slurm" and scheduler["partition"] == "local" and scheduler["job_id"]
    array = scheduler["array_job_id"]  # the sweep is one Slurm job array: submitit's logs are per task
    assert (first / ".submitit" / f"{array}_0" / f"{array}_0_0_log.out").is_file()
    assert list((first / "0_curated_sft" / "wandb").glob("offline-run-*/run-*.wandb"))
    failed, _ = _job(first, "1_curated_sft")
    assert failed["status"] == "failed" and "/nonexistent/model" in failed["error"]

    from fine_tune.compare.cli import main

    main([str(first), "--wandb", "disabled"])
    table = (first / "comparison.md").read_text()
    assert "finished" in table and "failed" in table

    again = tmp_path / "again"
    _sweep(slurm, cache_dir, again, "method=sft", "model.path=null,/nonexistent/model", "logger=wandb",
           "logger.mode=offline", "seed=403")
    reused, _ = _job(again, "0_curated_sft")
    assert reused["reused_from"] == str((first / "0_curated_sft").resolve())
    from wandb_offline import run_contents

    files = (again / "0_curated_sft" / "wandb").glob("offline-run-*/run-*.wandb")
    (copied,) = [run_contents(f)["run"] for f in files]
    assert copied["job_type"] == "sft" and "reused" in copied["tags"]  # a copied job still has its stage's run
    assert _job(again, "1_curated_sft")[0]["status"] == "failed"  # a failed job is tried again, not copied


def test_a_preempted_job_is_requeued_and_resumes_from_its_last_checkpoint(slurm, cache_dir, tmp_path):
    sweep_dir = tmp_path / "preempted"
    env = dict(slurm, FINE_TUNE_CACHE=str(cache_dir), PYTHONPATH=str(REPO))
    proc = subprocess.Popen(_command(sweep_dir, "logger=none", "method=sft", "debug.max_steps=400",
                                     "method.sft.save_steps=25", "eval.enabled=false", "seed=404"),
                            env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        stage = sweep_dir / "0_curated_sft" / "01-sft" / "checkpoints"
        deadline = time.time() + 300
        while time.time() < deadline and not list(stage.glob("checkpoint-*/trainer_state.json")):
            assert proc.poll() is None, proc.stderr.read()[-3000:]
            time.sleep(0.2)
        (job_id,) = subprocess.run(["squeue", "-h", "-o", "%i"], env=slurm, capture_output=True, text=True,
                                   check=True).stdout.split()
        # what a preemption, or the warning before a time limit, sends: submitit requeues the job
        subprocess.run(["scancel", "--signal=USR2", job_id], env=slurm, check=True)
        while time.time() < deadline and "JobState=PENDING" not in _job_info(slurm, job_id):
            time.sleep(0.5)  # requeued once the killed attempt has exited
        # Slurm holds a requeued job for two minutes; an admin's "start it now" skips the wait
        subprocess.run(["scontrol", "update", f"JobId={job_id}", "StartTime=now"], env=slurm, check=True)
        assert proc.wait(timeout=600) == 0, proc.stderr.read()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
    metrics, manifest = _job(sweep_dir, "0_curated_sft")
    stage_metrics = metrics["stages"]["sft"]
    assert metrics["status"] == "finished" and stage_metrics["global_steps"] == 400
    assert "/checkpoint-" in stage_metrics["resumed_from"]  # not trained again from step 0
    assert manifest["scheduler"]["restart_count"] == "1"


def _job_info(env: dict, job_id: str) -> str:
    return subprocess.run(["scontrol", "show", "job", job_id], env=env, capture_output=True, text=True).stdout
