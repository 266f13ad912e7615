"""Sweep jobs: a rerun of a sweep skips the jobs that finished; a failing job is recorded, not fatal.

A job's key is a hash of its whole resolved config except the logger and the claims
(neither changes a result). The first job of a key that finishes registers
its folder under `<cache_dir>/jobs/<key>.json`; a later job of the same key, in this
sweep folder or a new one, copies that job's results (saved weights as hard links) into
its own folder and returns.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import traceback
from pathlib import Path

from omegaconf import OmegaConf

from fine_tune.cache import cache_path
from fine_tune.outputs import content_key, write_json_atomic
from fine_tune.run_folder import RESULT_DIRS, RESULT_FILES, RunFolder, StageFolder
from fine_tune.stages.chain import link_finished

log = logging.getLogger(__name__)


def job_key(cfg) -> str:
    settings = OmegaConf.to_container(cfg, resolve=True)
    settings.pop("logger", None)
    settings.pop("claims", None)  # which claims a comparison tests changes no result of the job
    return content_key(settings)


def _registry(cfg) -> Path:
    return cache_path(cfg.cache_dir, "jobs", f"{job_key(cfg)}.json")


def finished_job(cfg) -> Path | None:
    """The folder of an earlier job with this config that finished, if any."""
    try:
        earlier = Path(json.loads(_registry(cfg).read_text())["dir"])
        status = RunFolder(earlier).read_metrics().get("status")
    except (OSError, ValueError, KeyError):
        return None
    return earlier if status == "finished" else None


def register_finished(cfg, run_dir: Path) -> None:
    write_json_atomic(_registry(cfg), {"dir": str(run_dir.resolve())})


def reuse(earlier: Path, run_dir: Path) -> dict:
    """Copy a finished job's results into `run_dir`; returns its metrics, marked as reused."""
    for name in RESULT_DIRS:
        if (earlier / name).is_dir():
            shutil.copytree(earlier / name, run_dir / name, dirs_exist_ok=True)
    for name in RESULT_FILES:  # metrics.json apart, below: last, marked as reused
        if (earlier / name).is_file():
            shutil.copy2(earlier / name, run_dir / name)
    source = RunFolder(earlier)
    for stage in source.stage_folders():  # saved weights, so export and eval work here too
        here, there = StageFolder(stage), StageFolder(run_dir / stage.name)
        if here.done.is_file():  # hard links: deleting the earlier job leaves this one whole
            link_finished(stage, there.root)
            if here.owner.is_file():  # absent in a stage folder of an older version
                shutil.copy2(here.owner, there.owner)
    metrics = source.read_metrics()
    metrics["reused_from"] = str(earlier.resolve())
    RunFolder(run_dir).write_metrics(metrics)
    log.info("this job finished before in %s: its results were copied, nothing retrained", earlier)
    return metrics


def record_failure(run_dir: Path, err: BaseException) -> None:
    """metrics.json says the job failed and why (keeping whatever a partial run wrote)."""
    path = RunFolder(run_dir).metrics
    try:
        metrics = json.loads(path.read_text())
    except (OSError, ValueError):
        metrics = {}
    if metrics.get("status") in (None, "running", "failed"):
        metrics.update(status="failed", error=f"{type(err).__name__}: {err}",
                       traceback="".join(traceback.format_exception(err))[-4000:])
        write_json_atomic(path, metrics)


def objective_value(metrics: dict, objective: str) -> float:
    """The dotted key `objective` of metrics.json as a float; NaN when the run has none (Optuna: failed trial)."""
    value = metrics
    for part in objective.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan
