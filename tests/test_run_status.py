"""fine-tune-compare tells running, killed and finished jobs apart (a real job, started and killed)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from conftest import REPO

from fine_tune.compare.collect import load_sweep
from fine_tune.compare.table import _status
from fine_tune.run_status import PROCESS, heartbeat, live_status


def _statuses(sweep_dir) -> list[tuple[str, str | None]]:
    return [_status(job) for job in load_sweep(sweep_dir).jobs]


def test_a_job_just_started_is_running_and_once_killed_is_killed(tmp_path, cache_dir):
    sweep_dir = tmp_path / "sweep"
    env = dict(os.environ, FINE_TUNE_CACHE=str(cache_dir), PYTHONPATH=str(REPO))
    # long enough to be caught working: 400 steps of the smoke model
    proc = subprocess.Popen([sys.executable, "-m", "fine_tune", "-m", "debug=smoke", "logger=none", "method=sft",
                             "debug.max_steps=400", "seed=301", f"hydra.sweep.dir={sweep_dir}"],
                            env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.time() + 300
        while time.time() < deadline and not list(sweep_dir.glob(f"*/{PROCESS}")):
            assert proc.poll() is None, "the job ended before it could be observed"
            time.sleep(0.1)
        (status, where), = _statuses(sweep_dir)
        assert status == "running" and f"pid {proc.pid}" in where  # before it wrote any metrics.json
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    (status, why), = _statuses(sweep_dir)
    assert status == "killed" and f"process {proc.pid} is gone" in why


def test_a_job_on_another_host_is_killed_once_its_heartbeat_is_stale(tmp_path):
    (tmp_path / PROCESS).write_text(json.dumps({"pid": 1, "host": "gpu-node-17", "started": 0}))
    assert live_status(tmp_path, {"status": "running"})[0] == "running"
    old = time.time() - 600
    os.utime(tmp_path / PROCESS, (old, old))
    status, why = live_status(tmp_path, {"status": "running"})
    assert status == "killed" and "no heartbeat for 10 min from gpu-node-17" in why
    assert live_status(tmp_path, {"status": "finished"}) is None  # a recorded result is the truth


def test_the_heartbeat_beats_and_an_ended_run_without_a_result_is_failed(tmp_path):
    with heartbeat(tmp_path, interval=0.05):
        first = (tmp_path / PROCESS).stat().st_mtime_ns
        time.sleep(0.3)
        assert (tmp_path / PROCESS).stat().st_mtime_ns > first
        assert live_status(tmp_path, None)[0] == "running"
    assert live_status(tmp_path, None) == ("failed", "its process ended without recording a result")


def test_an_interrupted_job_says_so_until_its_requeued_attempt_runs(tmp_path):
    interrupted = {"status": "interrupted", "error": "SystemExit: -1"}
    (tmp_path / PROCESS).write_text(json.dumps({"pid": os.getpid(), "host": "elsewhere", "started": 0,
                                                "ended": 1}))
    assert live_status(tmp_path, interrupted) is None  # the table shows "interrupted" and the exit
    with heartbeat(tmp_path, interval=0.05):  # Slurm started the requeued attempt
        assert live_status(tmp_path, interrupted)[0] == "running"
