"""One run: data -> base model -> stages in order -> evaluation -> metrics.json and W&B.

Called by the `fine-tune` entrypoint (fine_tune.cli) with the composed config;
writes everything into Hydra's output folder for the run:

    .hydra/             the config snapshot (Hydra's own)
    manifest.json       git SHA, package versions, data fingerprint, seed, device
    metrics.json        per-stage losses, tokens/s, memory; base and tuned accuracy
    data_report.{json,md}, rejects.jsonl   rows in/out of every data step; every removed row and why
    01-sft_cot/adapter  the stage's LoRA adapter (or model/ for finetune=full), done.json when finished
                        (a link to an earlier run's folder when that one did, or began, the same work)
    generations/        every eval generation, base and tuned, as JSONL
    wandb/              the offline W&B runs, one per stage
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from fine_tune.backends import resolve_backend
from fine_tune.data.pipeline import load_splits
from fine_tune.data.report import write_report
from fine_tune.evaluation.accuracy import checker_accuracy
from fine_tune.models.load import load_model, resolve_source
from fine_tune.outputs import build_manifest, write_json_atomic
from fine_tune.report import print_summary
from fine_tune.stages import RUNNERS, check_available, requested_stages, save_and_merge
from fine_tune.stages.chain import apply_saved, finished_metrics, last_checkpoint, mark_done, stage_dir, stage_keys
from fine_tune.stages.common import StageContext
from fine_tune.stages.guard import StageUnstable
from fine_tune.tracking import make_tracker

log = logging.getLogger(__name__)


def _group_and_label(run_dir: Path) -> tuple[str, str]:
    """W&B group: the sweep folder for a multirun, else the run's own folder."""
    hc = HydraConfig.get()
    if hc.mode == RunMode.MULTIRUN:
        return Path(hc.sweep.dir).as_posix().replace("/", "_"), run_dir.name
    return run_dir.name, run_dir.name


def run(cfg: DictConfig) -> float:
    """Train and evaluate the run `cfg` describes; returns the tuned checker accuracy."""
    started = time.time()
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    stages = list(cfg.method.keys())
    check_available(stages, requested_stages(HydraConfig.get().overrides.task))  # before anything loads
    backend = resolve_backend(cfg.backend.name)
    source = resolve_source(cfg.model, cfg.cache_dir)  # a bad model.path fails before data work

    import transformers

    transformers.set_seed(cfg.seed)
    splits = load_splits(cfg.data, cfg.cache_dir)
    write_report(splits.report, splits.rejects, run_dir)
    model, tokenizer = load_model(source, cfg.model, cfg.cache_dir, backend, _max_length(cfg))
    write_json_atomic(run_dir / "manifest.json", build_manifest(cfg.seed, splits.fingerprints, backend, source))

    group, label = _group_and_label(run_dir)
    tracker = make_tracker(cfg, OmegaConf.to_container(cfg, resolve=True), run_dir, group, label)
    metrics: dict = {"status": "running", "stages_order": stages, "data": splits.report, "stages": {}}
    try:
        _train_and_evaluate(cfg, stages, source, backend, model, tokenizer, splits, run_dir, tracker, metrics)
    except BaseException as err:
        # Keep what finished and say why the run stopped; the error still propagates.
        metrics.update(status="failed", error=f"{type(err).__name__}: {err}", wall_time_s=time.time() - started)
        write_json_atomic(run_dir / "metrics.json", metrics)
        tracker.finish_stage()
        raise
    last = metrics["stages"][list(metrics["stages"])[-1]]
    metrics.update(final_train_loss=last["final_train_loss"], eval_loss=last.get("eval_loss"),
                   wall_time_s=time.time() - started)
    tracker.log_table("data/curation", ["step", "rows_in", "rows_out"],
                      [[st["step"], st["rows_in"], st["rows_out"]] for st in splits.report["steps"]])
    tracker.log_summary(_summary(metrics))
    tracker.finish_stage()
    write_json_atomic(run_dir / "metrics.json", metrics)
    print_summary(metrics, run_dir)
    if "tuned" in metrics:
        return metrics["tuned"]["accuracy"]
    return -metrics["eval_loss"] if metrics["eval_loss"] is not None else float("nan")


def _train_and_evaluate(cfg, stages, source, backend, model, tokenizer, splits, run_dir: Path, tracker,
                        metrics: dict) -> None:
    """Base score, the stages in order (each from the last one's merged weights), tuned score."""
    generations = run_dir / "generations"
    generations.mkdir(exist_ok=True)
    if cfg.eval.enabled and cfg.eval.evaluate_base:
        base = checker_accuracy(model, tokenizer, splits.eval, cfg.eval, "base", generations / "base.jsonl")
        if base is not None:
            metrics["base"] = base
    keys = stage_keys(cfg, stages, source, splits.fingerprints)
    for index, (name, key) in enumerate(zip(stages, keys), start=1):
        folder = stage_dir(run_dir, index, name, key, cfg.cache_dir)
        done = finished_metrics(folder, key)
        if done is not None:
            log.info("stage %s already finished in %s: skipped", name, folder.resolve())
            model = apply_saved(model, folder)
            metrics["stages"][name] = {**done, "skipped": True, "reused_from": str(folder.resolve())}
            continue
        resume = last_checkpoint(folder)
        if resume:
            log.info("stage %s resumes from %s", name, resume)
        ctx = StageContext(name, index, cfg.method[name], cfg, splits, folder, tracker.report_to, resume, backend)
        tracker.start_stage(name, index)
        try:
            trainer, metrics["stages"][name] = RUNNERS[name](ctx, model, tokenizer)
        except StageUnstable as err:
            metrics["stages"][name] = {**err.metrics, "unstable": err.reason}
            metrics.update(status="unstable", unstable_reason=f"{name}: {err.reason}")
            tracker.log_summary({"unstable": True, "unstable_reason": metrics["unstable_reason"]})
            return  # the later stages would start from broken weights
        model = save_and_merge(trainer, tokenizer, folder)
        mark_done(folder, key, metrics["stages"][name])
        write_json_atomic(run_dir / "metrics.json", metrics)  # progress survives a later crash
        if index < len(stages):
            tracker.finish_stage()
    if not tracker.active:  # every stage was reused: the evaluation gets a W&B run of its own
        tracker.start_stage("eval", len(stages) + 1)
    tuned = checker_accuracy(model, tokenizer, splits.eval, cfg.eval, "tuned", generations / "tuned.jsonl") \
        if cfg.eval.enabled else None
    if tuned is not None:
        metrics["tuned"] = tuned
    metrics["status"] = "finished"


def _max_length(cfg) -> int:
    """The longest sequence any selected stage trains on (Unsloth sizes its kernels by it)."""
    return max(int(cfg.method[name].max_length) for name in cfg.method)


def _summary(metrics: dict) -> dict:
    summary = {"final/eval_loss": metrics["eval_loss"], "final/final_train_loss": metrics["final_train_loss"]}
    if "base" in metrics:
        summary["final/base_accuracy"] = metrics["base"]["accuracy"]
    if "tuned" not in metrics:
        return summary
    summary["final/tuned_accuracy"] = metrics["tuned"]["accuracy"]
    for skill, acc in metrics["tuned"]["per_skill"].items():
        summary[f"final/tuned_accuracy/{skill}"] = acc
    return summary
