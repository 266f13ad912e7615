"""A full disk: one line naming the folder and the space, the previous state kept, and a rerun continues.

Two kinds of full disk: fault injection (the write that would fail raises the OS's ENOSPC, or
safetensors' text-only form of it), which reaches every writer in seconds, and a real one: a small
tmpfs mounted for the test (root only, as CI runs; skipped with the reason elsewhere), filled with a
file, for the writers that are not ours (W&B's service) and for a whole job.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
from pathlib import Path

import pytest
from conftest import run_in_process
from omegaconf import OmegaConf

from fine_tune import disk, outputs, tracking
from fine_tune.errors import UserError, describe

SAFETENSORS_FULL = 'Error while serializing: IoError(Os { code: 28, kind: StorageFull, message: "No space left on device" })'


def _full(*_args, **_kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_result_file_keeps_its_old_content_when_the_disk_fills(tmp_path, monkeypatch):
    target = tmp_path / "metrics.json"
    outputs.write_json_atomic(target, {"status": "finished"})
    monkeypatch.setattr(outputs.os, "fsync", _full)
    with pytest.raises(UserError) as err:
        outputs.write_json_atomic(target, {"status": "running", "pad": "x" * 5000})
    message = describe(err.value)
    assert message.startswith(f"no space left on the disk of {tmp_path} while writing metrics.json (")
    assert "free, about 4.9 KiB needed): free some space and rerun the same command" in message
    assert json.loads(target.read_text()) == {"status": "finished"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]  # no temporary file left behind


def test_text_only_no_space_errors_are_recognised_and_others_are_not():
    assert disk.is_no_space(RuntimeError(SAFETENSORS_FULL))
    assert disk.is_no_space(OSError(errno.EDQUOT, "Disk quota exceeded"))
    assert not disk.is_no_space(OSError(errno.EACCES, "Permission denied"))
    with pytest.raises(KeyError):  # anything else keeps its type (and, in the CLI, its traceback)
        with disk.writing(".", "x"):
            raise KeyError("a bug")
    bare = OSError(errno.ENOSPC, "No space left on device", "/data/out/model.safetensors")
    assert describe(bare) == ("no space left on the disk writing '/data/out/model.safetensors': free some space "
                              "and rerun the same command; files written before are kept and finished stages are "
                              "reused")


def test_a_stage_that_cannot_fit_is_refused_before_it_trains(tmp_path, monkeypatch):
    monkeypatch.setattr(disk, "free_bytes", lambda folder: 1000)
    with pytest.raises(UserError, match=r"has 1000 bytes free, but stage sft .* needs about 2\.0 KiB: free some "
                                        r"space, or set hydra.run.dir"):
        disk.check_space(tmp_path, 2048, "stage sft (checkpoint and saved weights)")


def test_the_data_report_on_a_full_disk(tmp_path, cache_dir, monkeypatch):
    monkeypatch.setenv("FINE_TUNE_CACHE", str(cache_dir))
    run = tmp_path / "report"
    args = ["debug=smoke", f"hydra.run.dir={run}"]
    assert run_in_process("fine-tune-data", args, monkeypatch)[0] == 0
    before = (run / "data_report.json").read_bytes()
    monkeypatch.setattr(outputs.os, "fsync", _full)
    status, stderr = run_in_process("fine-tune-data", args, monkeypatch)
    assert status == 2 and "Traceback" not in stderr
    assert f"fine-tune-data: error: no space left on the disk of {run} while writing data_report.json" in stderr
    assert (run / "data_report.json").read_bytes() == before


def test_a_stage_whose_save_fills_the_disk_continues_on_a_rerun(tmp_path, cache_dir, monkeypatch):
    import fine_tune.stages as stages

    args = ["debug=smoke", "logger=none", "method=sft", "method.sft.save_steps=2", "eval.enabled=false",
            f"cache_dir={cache_dir}"]
    real = stages.write_folder_atomic

    def save_then_fill(target, write):
        def failing(staging):
            write(staging)  # the files land, then the disk is full (as safetensors reports it)
            raise RuntimeError(SAFETENSORS_FULL)
        real(target, failing)

    monkeypatch.setattr(stages, "write_folder_atomic", save_then_fill)
    first = tmp_path / "first"
    status, stderr = run_in_process("fine-tune", [*args, f"hydra.run.dir={first}"], monkeypatch)
    assert status == 2 and "Traceback" not in stderr, stderr[-2000:]
    line = stderr.strip().splitlines()[-1]
    assert line.startswith(f"fine-tune: error: no space left on the disk of {first / '01-sft'} while writing stage "
                           "sft's adapter or model (")
    assert "needed): free some space and rerun the same command" in line
    stage = first / "01-sft"
    assert not (stage / "model").exists() and not list(stage.glob(".model.partial-*"))  # nothing half-saved
    assert list((stage / "checkpoints").glob("checkpoint-6/trainer_state.json"))  # the work is kept
    assert json.loads((first / "metrics.json").read_text())["status"] == "failed"

    monkeypatch.setattr(stages, "write_folder_atomic", real)  # space freed
    second = tmp_path / "second"
    status, stderr = run_in_process("fine-tune", [*args, f"hydra.run.dir={second}"], monkeypatch)
    assert status == 0, stderr[-2000:]
    metrics = json.loads((second / "metrics.json").read_text())
    assert metrics["status"] == "finished"
    assert metrics["stages"]["sft"]["resumed_from"].endswith("checkpoint-6")
    assert metrics["stages"]["sft"]["global_steps"] == 6  # the checkpoint of the last step: nothing trained again


@pytest.fixture
def small_disk(tmp_path):
    """A real 24 MiB disk (tmpfs) at tmp_path/disk, unmounted afterwards; `fill(left)` leaves `left` bytes free."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mount)], capture_output=True,
                          text=True)
    if done.returncode != 0:
        pytest.skip(f"a real small disk needs `mount -t tmpfs` (root): {done.stderr.strip()}")

    def fill(left: int) -> Path:
        filler = mount / "filler"
        with open(filler, "wb") as out:
            out.write(b"\0" * max(disk.free_bytes(mount) - left, 0))
        return filler

    yield mount, fill
    subprocess.run(["umount", "-l", str(mount)], check=True)  # lazily: W&B's service may still hold a log open


def _tracker(run_dir: Path) -> tracking.WandbTracker:
    logger = OmegaConf.create({"mode": "offline", "project": "disk-test", "entity": None})
    return tracking.WandbTracker(logger, {"seed": 0}, run_dir, "g", ["t"], "run")


def test_a_wandb_run_that_fills_a_real_disk_is_not_passed_off_as_complete(small_disk):
    mount, fill = small_disk
    tracker = _tracker(mount / "run")
    tracker.start_stage("sft", 1)
    fill(0)  # the disk fills while the stage logs
    for step in range(300):
        tracker.run.log({"train/loss": step, "text": "x" * 2000})
    with pytest.raises(UserError) as err:
        tracker.finish_stage()
    message = describe(err.value)
    assert message.startswith(f"no space left on the disk of {mount / 'run' / 'wandb'}/offline-run-")
    assert "while writing the W&B run run/01-sft (0 bytes free, about 16.0 MiB needed): free some space" in message
    assert "W&B's service could not write all of it: see " in message and "debug-internal.log" in message


def test_a_wandb_run_is_refused_on_a_disk_too_full_to_hold_it_and_a_failed_job_keeps_its_own_error(small_disk):
    mount, fill = small_disk
    fill(1024 * 1024)
    with pytest.raises(UserError, match=r"has 1\.0 MiB free, but the W&B run of stage dpo needs about 16\.0 MiB"):
        _tracker(mount / "run").start_stage("dpo", 2)
    (mount / "filler").unlink()
    tracker = _tracker(mount / "run")
    tracker.start_stage("dpo", 2)
    fill(0)
    for step in range(300):
        tracker.run.log({"text": "x" * 2000})
    tracker.finish_stage(failed=True)  # the job's own error is the one reported: no second one raised here
    assert tracker.run is None


def test_a_whole_job_on_a_real_full_disk_fails_in_one_line_and_reruns_once_space_is_freed(small_disk, cache_dir,
                                                                                           monkeypatch):
    mount, fill = small_disk
    run = mount / "run"
    args = ["debug=smoke", "method=sft", "eval.enabled=false", f"cache_dir={cache_dir}", f"hydra.run.dir={run}"]
    filler = fill(2 * 1024 * 1024)
    status, stderr = run_in_process("fine-tune", args, monkeypatch)
    assert status == 2 and "Traceback" not in stderr, stderr[-2000:]
    line = stderr.strip().splitlines()[-1]
    assert line.startswith(f"fine-tune: error: {run}") and "free, but " in line and "needs about" in line, line
    assert json.loads((run / "metrics.json").read_text())["status"] == "failed"

    filler.unlink()  # space freed: the same command finishes
    status, stderr = run_in_process("fine-tune", args, monkeypatch)
    assert status == 0, stderr[-2000:]
    assert json.loads((run / "metrics.json").read_text())["status"] == "finished"
