"""Experiment tracking: one W&B run per stage, grouped by sweep or run, or nothing at all.

TRL's trainers log their metrics through `report_to="wandb"`: its callback
reuses the run we open here, so project, group, job_type (the stage), tags
(method, data, model) and the full config are ours. Offline mode writes under
`<run folder>/wandb/` and never touches the network; `wandb sync` uploads later.
With logger=none a stand-in that does nothing takes its place (as nanoGPT does),
so the training code has no `if wandb` branches.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from fine_tune.config import WandbMode
from fine_tune.disk import check_space, no_space_message, writing
from fine_tune.errors import UserError
from fine_tune.run_folder import RunFolder

log = logging.getLogger(__name__)

# Space kept free for a stage's W&B run: an offline run of this project's stages is under 1 MiB,
# a run with a few hundred logged generations a few MiB.
WANDB_RESERVE = 16 * 1024 * 1024


class NoTracker:
    """logger=none: every call is a no-op and trainers report to nobody."""

    report_to = "none"
    active = True  # nothing to open

    run_id = None

    def start_stage(self, stage: str, index: int, reused_from: str | None = None, tags: tuple = ()) -> None:
        pass

    def log_summary(self, values: dict[str, Any]) -> None:
        pass

    def log_table(self, key: str, columns: list[str], rows: list[list]) -> None:
        pass

    def finish_stage(self, failed: bool = False) -> None:
        pass


class WandbTracker:
    """One W&B run per stage; the last stage's run also carries the final evaluation."""

    report_to = "wandb"

    def __init__(self, logger_cfg, config: dict, run_dir: Path, group: str, tags: list[str], run_label: str):
        self.cfg = logger_cfg
        self.config = config
        self.run_dir = run_dir
        self.group = group
        self.tags = tags
        self.run_label = run_label
        self.run = None
        # TRL's callback would otherwise upload checkpoints as artifacts.
        os.environ.setdefault("WANDB_LOG_MODEL", "false")
        os.environ.setdefault("WANDB_SILENT", "true")

    def start_stage(self, stage: str, index: int, reused_from: str | None = None, tags: tuple = ()) -> None:
        """Open stage `index`'s run (job type: the stage); a stage reused from an earlier run gets one
        too, tagged `reused` and naming the W&B run that trained it (`reused_from`), so every job has a
        run per stage. `tags` are added to the run's (e.g. `reeval`)."""
        mode = WandbMode(self.cfg.mode).value
        kwargs = dict(
            project=self.cfg.project,
            entity=self.cfg.entity,
            group=self.group,
            job_type=stage,
            name=f"{self.run_label}/{index:02d}-{stage}",
            tags=[*self.tags, *tags, *(["reused"] if reused_from is not None else [])],
            config={**self.config, "reused_from_run": reused_from} if reused_from is not None else self.config,
            dir=str(self.run_dir),
            reinit="finish_previous",
        )
        folder = RunFolder(self.run_dir).wandb
        check_space(self.run_dir, WANDB_RESERVE, f"the W&B run of stage {stage}")
        with writing(folder, f"the W&B run of stage {stage}"):
            self.run = open_wandb_run(mode, **kwargs)

    @property
    def active(self) -> bool:
        return self.run is not None

    @property
    def run_id(self) -> str | None:
        return self.run.id if self.run is not None else None

    def log_summary(self, values: dict[str, Any]) -> None:
        if self.run is not None:
            for key, value in values.items():
                self.run.summary[key] = value

    def log_table(self, key: str, columns: list[str], rows: list[list]) -> None:
        if self.run is not None:
            import wandb

            self.run.log({key: wandb.Table(columns=columns, data=rows)})

    def finish_stage(self, failed: bool = False) -> None:
        """Close the stage's run. W&B's service writes the run file and, on a full disk, only logs the
        error and finishes as if all were well: its log is read so a truncated run is not passed off
        as complete (unless the job `failed` already, whose own error is the one to report)."""
        if self.run is None:
            return
        run, self.run = self.run, None
        folder = Path(run.settings.sync_dir)
        with writing(folder, f"the W&B run {run.name}"):
            run.finish()
        if not failed and service_ran_out_of_space(Path(run.settings.log_internal)):
            raise UserError(no_space_message(folder, f"the W&B run {run.name}", WANDB_RESERVE)
                            + f" (W&B's service could not write all of it: see {run.settings.log_internal})")


def service_ran_out_of_space(log_file: Path) -> bool:
    """Whether W&B's service logged a write that failed for lack of space (it tells the caller nothing)."""
    try:
        text = log_file.read_text(errors="replace")
    except OSError:
        return False
    return "no space left on device" in text.lower() or "disk quota exceeded" in text.lower()


def stage_summary(stage: dict) -> dict:
    """A reused stage's figures, as its W&B run's summary (its curves live in the run that trained it)."""
    keys = ("final_train_loss", "mean_train_loss", "eval_loss", "global_steps", "train_tokens")
    return {f"stage/{key}": stage[key] for key in keys if stage.get(key) is not None}


def log_reused_job(tracker, metrics: dict, final: dict) -> None:
    """A sweep job copied from an earlier one (fine_tune.jobs.reuse): a run per stage, each tagged
    `reused` and naming the run that trained it, the last one with the job's `final` summary."""
    order = metrics.get("stages_order") or list(metrics.get("stages", {}))
    for index, name in enumerate(order, start=1):
        stage = metrics["stages"].get(name, {})
        tracker.start_stage(name, index, reused_from=stage.get("wandb_run_id") or "")
        tracker.log_summary(stage_summary(stage))
        if index == len(order):
            tracker.log_summary(final)
        tracker.finish_stage()


def sweep_group(sweep_dir: str | Path) -> str:
    """The W&B group of a sweep's runs: its folder as one name, e.g. multirun_2026-11-26_10-00-00."""
    return Path(sweep_dir).as_posix().replace("/", "_")


def open_wandb_run(mode: str, **kwargs):
    """wandb.init in `mode`; an unreachable server falls back to offline after 30 s instead of hanging."""
    import wandb

    try:
        return wandb.init(mode=mode, settings=wandb.Settings(init_timeout=30), **kwargs)
    except Exception as err:  # noqa: BLE001 - any failure to reach W&B falls back to disk
        if mode != "online":
            raise
        log.warning("W&B online init failed (%s); logging offline instead, sync later", err)
        return wandb.init(mode="offline", **kwargs)


def make_tracker(cfg, config: dict, run_dir: Path, group: str, run_label: str):
    """The tracker logger=<name> asks for."""
    if cfg.logger.name == "none" or WandbMode(cfg.logger.mode) is WandbMode.disabled:
        return NoTracker()
    budget = cfg.get("budget")  # absent in a run folder of an older version (fine-tune-eval)
    tags = [f"method:{'+'.join(cfg.method.keys())}", f"data:{cfg.data.name}", f"model:{model_tag(cfg.model)}",
            f"budget:{budget.name if budget is not None else 'epochs'}", f"seed:{cfg.seed}"]
    tags += list(cfg.logger.tags)
    if cfg.study:
        tags.append(f"study:{cfg.study}")
    return WandbTracker(cfg.logger, config, run_dir, group, tags, run_label)


def model_tag(model_cfg) -> str:
    if model_cfg.path:
        return Path(model_cfg.path).name
    if model_cfg.name:
        return str(model_cfg.name).split("/")[-1]
    return "tiny"
